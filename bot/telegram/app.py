"""`qabot telegram`: python-telegram-bot v22 (asyncio) in front of `bot.service`.

This module builds the Application and runs it, by polling or by webhook; what a chat sees
is decided in `bot.telegram.handlers` and written in `bot.telegram.format`.

- 429 flood control is waited out and failed connections are retried
  (`RetryingRateLimiter`); polling errors are retried by PTB's updater.
- The token never reaches a log line (`bot.telegram.redact`), and a rejected token is a
  one-line error before anything heavy loads (`check_token`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import Bot
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.core.errors import ConfigError, QABotError
from bot.telegram.access import AllowList, Gate
from bot.telegram.handlers import COMMANDS, Handlers
from bot.telegram.health import HealthReporter
from bot.telegram.persistence import STATE_FILE, StateFile
from bot.telegram.redact import Redactor, bot_logging
from bot.telegram.send import SEND_DEFAULTS
from bot.telegram.state import ANSWERS_KEPT
from bot.telegram.stats import Stats, StatsCommand
from bot.telegram_settings import state_file_off

if TYPE_CHECKING:
    from bot.config import Settings, TelegramSettings
    from bot.service import QAService

log = logging.getLogger("bot.telegram")


class TelegramSetupError(QABotError):
    """The Telegram bot cannot start: token rejected, Bot API unreachable."""


# Only what the bot handles: Telegram then does not send the rest at all.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
BOOTSTRAP_RETRIES = 5  # startup calls (getMe, deleteWebhook/setWebhook) on network errors
REJECTED_TOKEN = "Telegram rejected the bot token (TELEGRAM_BOT_TOKEN); check it with @BotFather"


# --- settings checks -----------------------------------------------------------------------


def require_token(tg: TelegramSettings) -> str:
    token = tg.token.get_secret_value().strip() if tg.token else ""
    if not token:
        raise ConfigError(
            "no Telegram bot token: set TELEGRAM_BOT_TOKEN (get one from @BotFather) "
            "or telegram.token in the config file"
        )
    return token


def check_settings(tg: TelegramSettings) -> None:
    require_token(tg)
    if tg.mode == "webhook" and not tg.url:
        raise ConfigError(
            "bad setting 'telegram.url': webhook mode needs the public HTTPS URL Telegram "
            "posts updates to"
        )


def webhook_path(tg: TelegramSettings) -> str:
    path = tg.path if tg.path is not None else urlsplit(tg.url or "").path
    return "/" + path.strip("/")


def polling_options(poll_timeout: float = 10) -> dict[str, Any]:
    return {
        "allowed_updates": ALLOWED_UPDATES,
        "timeout": poll_timeout,
        "bootstrap_retries": BOOTSTRAP_RETRIES,
    }


def webhook_options(tg: TelegramSettings, secret_token: str) -> dict[str, Any]:
    """start_webhook/run_webhook arguments. Telegram sends the secret with every update."""
    return {
        "listen": tg.listen,
        "port": tg.port,
        "url_path": webhook_path(tg),
        "webhook_url": tg.url,
        "secret_token": secret_token,
        "allowed_updates": ALLOWED_UPDATES,
        "bootstrap_retries": BOOTSTRAP_RETRIES,
    }


def webhook_secret(tg: TelegramSettings) -> str:
    # setWebhook runs at every start, so a fresh random secret per run is as good as a
    # configured one, and safe by default.
    return tg.secret_token.get_secret_value() if tg.secret_token else secrets.token_urlsafe(32)


def check_token(tg: TelegramSettings) -> str:
    """Ask Telegram who the token belongs to (getMe) before loading anything heavy.

    Returns the bot's username; a rejected token or an unreachable API is a one-line error.
    """
    token = require_token(tg)

    async def get_me() -> str:
        async with Bot(token, base_url=tg.api_base, base_file_url=tg.file_base) as bot:
            return bot.username

    redactor = Redactor([token])
    # PTB logs a reply it cannot parse, with a traceback, before raising: the one-line error
    # below says it, so its own lines would only repeat it (and echo what the server sent).
    ptb = logging.getLogger("telegram")
    level = ptb.level
    ptb.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(get_me())
    except InvalidToken:
        # PTB's own message quotes the token: never show it.
        raise TelegramSetupError(REJECTED_TOKEN) from None
    except TelegramError as exc:
        raise TelegramSetupError(
            f"cannot reach the Telegram Bot API at {tg.api_base}: {redactor.redact(str(exc))}"
        ) from None
    finally:
        ptb.setLevel(level)


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (throttles, and waits out 429 `retry_after`), plus retries of failed
    connections and 5xx answers, with backoff.

    Timeouts are not retried: the request may have arrived, and a retried sendMessage would
    post the answer twice. getUpdates never comes here; PTB's updater retries it.
    """

    def __init__(self, network_retries: int = 2, backoff: float = 0.5, **kwargs: Any):
        super().__init__(**kwargs)
        self.network_retries = network_retries
        self.backoff = backoff

    async def process_request(self, *args: Any, **kwargs: Any) -> Any:
        endpoint = kwargs.get("endpoint", "?")
        for attempt in range(self.network_retries + 1):
            try:
                return await super().process_request(*args, **kwargs)
            except (BadRequest, TimedOut):
                raise
            except NetworkError as exc:
                if attempt == self.network_retries:
                    raise
                delay = self.backoff * 2**attempt
                log.warning("%s failed (%s); retrying in %.1f s", endpoint, exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


# --- building and running ------------------------------------------------------------------


def state_path(tg: TelegramSettings, service: QAService) -> Path | None:
    """Where the chats and buttons outlive a restart: telegram.state_file, else beside the
    index; None when it is "none" or "off"."""
    if tg.state_file is None:
        return service.index_dir / STATE_FILE
    return None if state_file_off(tg.state_file) else Path(tg.state_file).expanduser()


def build_application(
    service: QAService, settings: Settings, health: HealthReporter | None = None
) -> Application:
    """The Application, handlers installed; not started. With `health`, the health file is
    rewritten from post_init until post_shutdown."""
    tg = settings.telegram
    stats = Stats()
    handlers = Handlers(service, settings, stats)
    operator = StatsCommand(stats, service, tg)
    builder = ApplicationBuilder()
    path = state_path(tg, service)
    if path is not None:
        builder = builder.persistence(StateFile(path))

    async def post_init(app: Application) -> None:
        await handlers.post_init(app)
        await operator.post_init(app, COMMANDS)
        if health is not None:
            health.facts = lambda: {
                "uptime_s": round(stats.uptime_s, 1),
                "questions": stats.questions,
                "build_id": service.manifest.build_id,
            }
            health.start()

    async def post_shutdown(app: Application) -> None:
        if health is not None:
            await health.stop()
        await handlers.post_shutdown(app)

    app = (
        builder.token(require_token(tg))
        .base_url(tg.api_base)
        .base_file_url(tg.file_base)
        .defaults(SEND_DEFAULTS)
        .rate_limiter(
            RetryingRateLimiter(max_retries=3, overall_max_rate=tg.max_messages_per_second)
        )
        .concurrent_updates(True)
        # A button carries its passage itself; PTB keeps the last ANSWERS_KEPT keyboards.
        .arbitrary_callback_data(ANSWERS_KEPT)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    operator.install(app)  # first: a non-admin's /stats goes on to the unknown command
    handlers.install(app)
    Gate(AllowList.of(tg), exempt=operator.handlers).install(app)  # group -1: before them all
    return app


def run(
    settings: Settings,
    service: QAService,
    secret: str | None = None,
    health: HealthReporter | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (PTB's run_* handle both and shut down cleanly)."""
    tg = settings.telegram
    check_settings(tg)
    redactor = Redactor([require_token(tg), secret])
    app = build_application(service, settings, health)
    try:
        if tg.mode == "webhook":
            app.run_webhook(**webhook_options(tg, secret or webhook_secret(tg)))
        else:
            app.run_polling(**polling_options())
    except InvalidToken:
        raise TelegramSetupError(REJECTED_TOKEN) from None
    except TelegramError as exc:
        raise TelegramSetupError(f"Telegram: {redactor.redact(str(exc))}") from None
    except OSError as exc:  # the webhook server's address: taken, not ours, not allowed
        raise TelegramSetupError(
            f"cannot listen on {tg.listen}:{tg.port} for the webhook "
            f"({exc.strerror or exc}); choose another with telegram.port / telegram.listen"
        ) from None


def serve(
    settings: Settings, open_service: Callable[[Settings], QAService], verbose: bool = False
) -> None:
    """`qabot telegram`: check the settings and the token, load the index, run the bot."""
    tg = settings.telegram
    check_settings(tg)
    token = require_token(tg)
    secret = webhook_secret(tg) if tg.mode == "webhook" else None
    # PTB 22's RetryAfter warns about its own attribute on every 429: nothing to act on.
    warnings.filterwarnings(
        "ignore", message="Deprecated since version v22.2", category=DeprecationWarning
    )
    with bot_logging([token, secret], verbose, tg.log_format):
        username = check_token(tg)  # before the model loads: a bad token fails in a second
        health = start_health(tg)
        log.info("token accepted for @%s; loading the index", username)
        try:
            service = open_service(settings)
            run(settings, service, secret, health)
        finally:
            if health is not None:  # also when the bot never got as far as running
                health.mark_stopped()


def start_health(tg: TelegramSettings) -> HealthReporter | None:
    """The health file says "starting" before the index loads: an unwritable one fails now."""
    if tg.health_file is None:
        return None
    health = HealthReporter(tg.health_file, tg.health_interval, tg.mode)
    try:
        health.write("starting")
    except OSError as exc:
        raise TelegramSetupError(
            f"cannot write the health file {tg.health_file} ({exc.strerror or exc}); "
            "check telegram.health_file"
        ) from None
    return health
