"""What the bot has done since it started, for its operator: `/stats`, for admins only.

- Counts start again with the process; memory stays bounded (the last TIMES_KEPT times are
  kept for the percentiles, nothing per chat or per question).
- To anyone not in `telegram.admins`, /stats is an unknown command: its handler's filter
  lets only admins through, so everyone else falls through to the handlers any unknown
  command reaches and gets exactly their reply. Nobody learns that the command exists, and
  an allow-list or a group treats it as it treats any other unknown command.
- Admins are answered whatever the allow-list says (listing them is consent enough), in
  private chats only: the figures and document names are the operator's, not a group's.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.telegram import format as fmt
from bot.telegram.send import reply

if TYPE_CHECKING:
    from bot.config import TelegramSettings
    from bot.core.types import Answer, Manifest
    from bot.service import QAService

log = logging.getLogger("bot.telegram")

TIMES_KEPT = 1000  # answer times kept for p50/p95: the recent ones, in bounded memory
DOCUMENTS_LISTED = 30  # names /stats lists; /sources lists them all
STATS_COMMAND = ("stats", "Operator: uptime, questions, answer times, index")


def _times() -> deque[float]:
    return deque(maxlen=TIMES_KEPT)


@dataclass
class Stats:
    """Counters since the bot started; `record` is called on the event loop, so no lock."""

    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    questions: int = 0  # questions the engine answered, abstentions included
    abstained: int = 0  # of those, answered "The document doesn't say."
    # The engine's time (what `qabot eval` measures), and the time from the handler getting
    # the question to the reply being sent (the chat's earlier questions and Telegram
    # included: what the user waits, short of the network to the user).
    answer_ms: deque[float] = field(default_factory=_times)
    reply_ms: deque[float] = field(default_factory=_times)

    def record(self, answer: Answer, reply_ms: float) -> None:
        self.questions += 1
        self.abstained += answer.abstained
        self.answer_ms.append(answer.timings_ms.get("total", 0.0))
        self.reply_ms.append(reply_ms)

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.started


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..1); None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def duration(seconds: float) -> str:
    """`3 d 4 h`, `2 h 5 min`, `4 min 10 s`, `12 s`: the two largest units."""
    s = int(seconds)
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {s % 60} s" if minutes else f"{s} s"


def _times_line(label: str, values: Sequence[float]) -> str:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    if p50 is None or p95 is None:
        return f"{label}: none yet"
    return f"{label}: p50 {p50:,.0f} ms, p95 {p95:,.0f} ms (last {len(values):,})"


def stats_html(stats: Stats, manifest: Manifest) -> str:
    asked = stats.questions
    rate = f" ({stats.abstained / asked:.0%})" if asked else ""
    names = [s.name or s.path.replace("\\", "/").rsplit("/", 1)[-1] for s in manifest.sources]
    listed = ", ".join(names[:DOCUMENTS_LISTED])
    if len(names) > DOCUMENTS_LISTED:
        listed += f" and {len(names) - DOCUMENTS_LISTED:,} more (/sources lists them)"
    return "\n".join(
        [
            "<b>Stats</b>",
            f"Up {duration(stats.uptime_s)}, since {stats.started_at:%Y-%m-%d %H:%M} UTC",
            f"Questions answered: {asked:,}",
            f"The document doesn't say: {stats.abstained:,}{rate}",
            _times_line("Answer time (engine)", stats.answer_ms),
            _times_line("Reply time (question to reply sent)", stats.reply_ms),
            f"Index: build <code>{fmt.escape(manifest.build_id)}</code>, built "
            f"{fmt.escape(manifest.built_at)}, {manifest.chunk_count:,} passages",
            f"Documents ({len(names):,}): {fmt.escape(listed)}",
        ]
    )


class StatsCommand:
    """`/stats` for the admins, and the command in their own command menus."""

    def __init__(self, stats: Stats, service: QAService, tg: TelegramSettings):
        self.stats = stats
        self.service = service
        self.admins = frozenset(tg.admins)
        self.handlers: list[CommandHandler] = []  # none without admins: /stats is unknown
        if self.admins:
            only = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.User(self.admins)
            self.handlers.append(CommandHandler(STATS_COMMAND[0], self.on_stats, filters=only))

    def install(self, app: Application) -> None:
        """Before the other handlers: a non-admin's /stats goes on to the unknown-command one.
        The allow-list's `Gate` lets what these take through."""
        for handler in self.handlers:
            app.add_handler(handler)

    async def post_init(self, app: Application, public: Sequence[tuple[str, str]]) -> None:
        """Show /stats in each admin's own menu (a private chat's id is its user's id)."""
        commands = [BotCommand(name, text) for name, text in [*public, STATS_COMMAND]]
        for admin in sorted(self.admins):
            try:
                await app.bot.set_my_commands(commands, scope=BotCommandScopeChat(admin))
            except TelegramError as exc:  # an admin who never opened a chat with the bot
                log.warning("could not add /stats to admin %s's command menu: %s", admin, exc)

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await reply(update.effective_message, stats_html(self.stats, self.service.manifest))
