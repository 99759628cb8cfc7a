"""`qabot telegram`: python-telegram-bot v22 (asyncio) in front of `QAEngine.answer`.

What a chat sees is built in `bot.telegram_format`; this module receives updates, decides
who is answered, runs the engine off the event loop and sends the replies.

- Updates are processed concurrently; the engine runs in a thread pool, so a slow question
  never stalls other chats. Questions from one chat are answered in order (a per-chat lock),
  because a follow-up needs the answer before it.
- Every failure ends in `on_error`: it logs (secrets redacted) and apologises to the chat.
  429 flood control is waited out and failed connections are retried (`RetryingRateLimiter`);
  polling errors are retried by PTB's updater.
- The token never reaches a log line: httpx (which logs request URLs, token included) is
  kept at WARNING, and `Redactor` scrubs the token and the webhook secret from every record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
import warnings
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageEntityType, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import BUNDLED_DOCUMENT
from bot.core.errors import ConfigError, QABotError, QuestionError
from bot.core.types import Turn
from bot.telegram import format as fmt

if TYPE_CHECKING:
    from bot.config import Settings, TelegramSettings
    from bot.core.types import Answer
    from bot.service import QAService

log = logging.getLogger("bot.telegram")


# Only what the bot handles: Telegram then does not send the rest at all.
class TelegramSetupError(QABotError):
    """The Telegram bot cannot start: token rejected, Bot API unreachable."""


ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
COMMANDS = [
    ("ask", "Ask a question: /ask QUESTION"),
    ("sources", "What I have read"),
    ("reset", "Forget our conversation"),
    ("help", "How to use me"),
    ("start", "Hello and an example question"),
]
ARTICLE_EXAMPLE = "How big is Japan's trade surplus with the US?"
TYPING_EVERY = 4.0  # seconds; Telegram shows "typing" for about 5 s after each action
ANSWERS_KEPT = 500  # recent answers whose "Show passage" buttons still work
CHATS_KEPT = 1000  # conversations kept; the least recently active is forgotten first
ENGINE_THREADS = 4
BOOTSTRAP_RETRIES = 5  # startup calls (getMe, deleteWebhook/setWebhook) on network errors

REFUSAL = "Sorry, this bot is private: it answers only the people it was set up for."
STALE_BUTTON = "That passage is no longer available — ask again."
ERROR_REPLY = "Sorry, something went wrong while answering. Please try again."
TEXT_ONLY = "I answer text questions about the document. Send me your question as a text message."


# --- secrets out of logs -------------------------------------------------------------------


class Redactor(logging.Filter):
    """Replaces secrets in a record's message, arguments and traceback with [REDACTED]."""

    def __init__(self, secret_values: Iterable[str | None]):
        super().__init__()
        self.secrets = sorted({s for s in secret_values if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it later, unredacted parts aside
            message = str(record.msg)
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text, so the traceback is rendered once, redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


@contextlib.contextmanager
def redacting(secret_values: Iterable[str | None]) -> Iterator[Redactor]:
    """While inside: httpx/httpcore at WARNING, and every log record redacted as it is made.

    The redaction hooks the log-record factory, so it covers records from any library and
    reaches every handler, including ones added later (a test's log capture among them).
    """
    redactor = Redactor(secret_values)
    quiet = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield redactor
    finally:
        logging.setLogRecordFactory(previous)
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


# Libraries whose INFO lines say nothing to someone running the bot (faiss reports the
# CPU builds it could not load, which reads like an error; bm25s logs at DEBUG whatever
# the root level, setting its own level when it is imported).
CHATTY_LOGGERS = frozenset({"faiss", "sentence_transformers", "transformers", "bm25s"})


def _not_chatty(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] not in CHATTY_LOGGERS


@contextlib.contextmanager
def bot_logging(secret_values: Iterable[str | None], verbose: bool = False) -> Iterator[None]:
    """Log lines on stderr for the running bot, secrets redacted; --verbose: debug lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(_not_chatty)
    root = logging.getLogger()
    level = root.level
    with redacting(secret_values) as redactor:
        handler.addFilter(redactor)
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)


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
    try:
        return asyncio.run(get_me())
    except InvalidToken:
        # PTB's own message quotes the token: never show it.
        raise TelegramSetupError(
            "Telegram rejected the bot token (TELEGRAM_BOT_TOKEN); check it with @BotFather"
        ) from None
    except TelegramError as exc:
        raise TelegramSetupError(
            f"cannot reach the Telegram Bot API at {tg.api_base}: {redactor.redact(str(exc))}"
        ) from None


# --- state kept per chat -------------------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    chat_id: int
    answer: Answer


class AnswerStore:
    """Recent answers by a short random key, for the "Show passage" buttons.

    Random keys (not counters) so a button from before a restart never shows another answer's
    passage; the oldest answers are dropped first, and a press on one gets a polite answer.
    """

    def __init__(self, capacity: int = ANSWERS_KEPT):
        self.capacity = capacity
        self._items: OrderedDict[str, _Stored] = OrderedDict()

    def add(self, chat_id: int, answer: Answer) -> str:
        key = secrets.token_urlsafe(6)
        while key in self._items:
            key = secrets.token_urlsafe(6)
        self._items[key] = _Stored(chat_id, answer)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return key

    def get(self, key: str, chat_id: int | None) -> Answer | None:
        stored = self._items.get(key)
        return stored.answer if stored and stored.chat_id == chat_id else None

    def __len__(self) -> int:
        return len(self._items)


class Conversations:
    """The last few turns of each chat, each with the id of the message that asked it.

    Bounded twice: `turns` per chat (what a follow-up may use) and `chats` in all, the least
    recently active chat forgotten first.
    """

    def __init__(self, turns: int, chats: int = CHATS_KEPT):
        self.turns = turns
        self.chats = chats
        self._chats: OrderedDict[int, list[tuple[int, Turn]]] = OrderedDict()

    def history(self, chat_id: int, before_message: int | None = None) -> list[Turn]:
        """The turns of the chat; for an edited question, those before its first version."""
        entries = self._chats.get(chat_id, [])
        ids = [message_id for message_id, _ in entries]
        if before_message in ids:
            entries = entries[: ids.index(before_message)]
        return [turn for _, turn in entries]

    def record(self, chat_id: int, message_id: int, turn: Turn) -> None:
        """Add a turn; an edited question replaces the turn its first version made."""
        if self.turns == 0:
            return
        entries = self._chats.pop(chat_id, [])
        ids = [m for m, _ in entries]
        if message_id in ids:
            entries[ids.index(message_id)] = (message_id, turn)
        else:
            entries.append((message_id, turn))
        self._chats[chat_id] = entries[-self.turns :]
        while len(self._chats) > self.chats:
            self._chats.popitem(last=False)

    def reset(self, chat_id: int) -> None:
        self._chats.pop(chat_id, None)

    def __len__(self) -> int:
        return len(self._chats)


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


# --- the bot -------------------------------------------------------------------------------


class QABot:
    """Handlers and per-chat state; one instance per Application."""

    def __init__(
        self, service: QAService, settings: Settings, engine_threads: int = ENGINE_THREADS
    ):
        self.service = service
        self.tg = settings.telegram
        self.conversations = Conversations(settings.history_turns)
        self.answers = AnswerStore()
        # (chat, question message) -> the one-message reply, so an edited question can
        # update its answer in place.
        self.replies: OrderedDict[tuple[int, int], int] = OrderedDict()
        self.executor = ThreadPoolExecutor(engine_threads, thread_name_prefix="qabot-answer")
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.mode = self.tg.mode

    # -- wiring --

    def install(self, app: Application) -> None:
        message = filters.UpdateType.MESSAGE
        for name, callback in (
            ("start", self.on_start),
            ("help", self.on_help),
            ("sources", self.on_sources),
            ("reset", self.on_reset),
            ("ask", self.on_ask),
        ):
            app.add_handler(CommandHandler(name, callback, filters=message))
        app.add_handler(
            MessageHandler(filters.COMMAND & message & filters.ChatType.PRIVATE, self.on_unknown)
        )
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & message, self.on_text))
        app.add_handler(
            MessageHandler(
                filters.TEXT & ~filters.COMMAND & filters.UpdateType.EDITED_MESSAGE, self.on_edited
            )
        )
        app.add_handler(
            MessageHandler(message & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_other)
        )
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)

    async def post_init(self, app: Application) -> None:
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        log.info(
            "@%s answers questions about %s (%d passages), by %s",
            app.bot.username,
            fmt.document_names(self.service.manifest),
            self.service.manifest.chunk_count,
            self.mode,
        )

    async def post_shutdown(self, app: Application) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- who is answered --

    def allowed(self, update: Update) -> bool:
        if not self.tg.allowed_users and not self.tg.allowed_chats:
            return True
        user = update.effective_user
        chat = update.effective_chat
        return (user is not None and user.id in self.tg.allowed_users) or (
            chat is not None and chat.id in self.tg.allowed_chats
        )

    async def admit(self, update: Update) -> bool:
        """True if the update's sender may use the bot; else a polite refusal, nothing else."""
        if self.allowed(update):
            return True
        user = update.effective_user
        chat = update.effective_chat
        log.info(
            "refused user %s in chat %s (not in the allowlist)",
            user.id if user else None,
            chat.id if chat else None,
        )
        if update.callback_query:
            await update.callback_query.answer(REFUSAL, show_alert=True)
        elif update.effective_message:
            await self.reply(update.effective_message, fmt.escape(REFUSAL))
        return False

    @staticmethod
    def addressed(message: Message, bot: Bot) -> str | None:
        """In a group: the text with the bot's @mention removed if the message is meant for
        the bot (a mention, or a reply to one of its messages); None if it is not."""
        text = message.text or message.caption or ""
        entities = (
            message.parse_entities([MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION])
            if message.text
            else message.parse_caption_entities(
                [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]
            )
        )
        mentioned = False
        for entity, value in entities.items():
            if (
                entity.type == MessageEntityType.MENTION
                and bot.username
                and value.lower() == f"@{bot.username}".lower()
            ) or (
                entity.type == MessageEntityType.TEXT_MENTION
                and entity.user
                and entity.user.id == bot.id
            ):
                mentioned = True
                text = text.replace(value, " ")
        original = message.reply_to_message
        replied = bool(original and original.from_user and original.from_user.id == bot.id)
        if not (mentioned or replied):
            return None
        return " ".join(text.split()).strip(" ,:;")

    @staticmethod
    def is_private(update: Update) -> bool:
        return bool(update.effective_chat and update.effective_chat.type == ChatType.PRIVATE)

    # -- sending --

    async def reply(
        self, message: Message, html: str, markup: InlineKeyboardMarkup | None = None
    ) -> list[Message]:
        """Send `html` threaded to `message`, split if long; buttons go under the last part."""
        parts = fmt.split_html(html)
        sent = []
        for i, part in enumerate(parts):
            sent.append(
                await message.reply_text(
                    part,
                    parse_mode=ParseMode.HTML,
                    reply_parameters=ReplyParameters(
                        message_id=message.message_id, allow_sending_without_reply=True
                    )
                    if i == 0
                    else None,
                    reply_markup=markup if i == len(parts) - 1 else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    do_quote=False,
                )
            )
        return sent

    async def edit_reply(
        self,
        bot: Bot,
        chat_id: int,
        message_id: int,
        html: str,
        markup: InlineKeyboardMarkup | None,
    ) -> bool:
        """Put a new answer into an earlier one-message reply; False if that cannot be done."""
        parts = fmt.split_html(html)
        if len(parts) != 1:
            return False
        try:
            await bot.edit_message_text(
                parts[0],
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return True  # the same answer as before: nothing to change
            log.info(
                "could not edit reply %s in chat %s (%s); sending a new one",
                message_id,
                chat_id,
                exc,
            )
            return False
        return True

    @contextlib.asynccontextmanager
    async def typing(self, bot: Bot, message: Message) -> AsyncIterator[None]:
        """Show "typing…" in the chat until the block ends."""

        async def keep_typing() -> None:
            while True:
                try:
                    await bot.send_chat_action(
                        message.chat_id,
                        ChatAction.TYPING,
                        message_thread_id=message.message_thread_id
                        if message.is_topic_message
                        else None,
                    )
                except Forbidden:
                    return
                except TelegramError as exc:  # cosmetic: never let it fail the answer
                    log.debug("typing action failed: %s", exc)
                await asyncio.sleep(TYPING_EVERY)

        task = asyncio.create_task(keep_typing())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def buttons(self, key: str, answer: Answer) -> InlineKeyboardMarkup | None:
        if not answer.citations:
            return None
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        fmt.passage_button_label(c.n), callback_data=fmt.callback_data(key, c.n)
                    )
                ]
                for c in answer.citations
            ]
        )

    # -- answering --

    def lock(self, chat_id: int) -> asyncio.Lock:
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[chat_id] = lock
        return lock

    def example(self) -> str:
        if self.tg.example_question:
            return self.tg.example_question
        sources = self.service.manifest.sources
        if any(Path(s.path).resolve() == BUNDLED_DOCUMENT.resolve() for s in sources):
            return ARTICLE_EXAMPLE
        heading = self.service.first_heading
        return f"What does it say about {heading}?" if heading else "What is it about?"

    async def compute(self, question: str, history: Sequence[Turn]) -> Answer:
        """The engine's answer, computed in the thread pool: the event loop stays free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, partial(self.service.ask, question, history)
        )

    async def ask(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        question: str,
        edited: bool = False,
    ) -> None:
        message = update.effective_message
        assert message is not None
        question = " ".join(question.split())
        if not question:
            await self.reply(
                message,
                "Ask me a question about the document, for example: "
                f"<i>{fmt.escape(self.example())}</i>",
            )
            return
        limit = self.tg.max_question_chars
        if len(question) > limit:
            await self.reply(
                message,
                f"That question is {len(question):,} characters long; I read questions of up "
                f"to {limit:,}. Could you shorten it?",
            )
            return
        chat_id = message.chat_id
        async with self.lock(chat_id):
            history = self.conversations.history(chat_id, before_message=message.message_id)
            try:
                async with self.typing(context.bot, message):
                    answer = await self.compute(question, history)
            except QuestionError as exc:
                await self.reply(message, fmt.escape(f"Sorry, {exc}."))
                return
            key = self.answers.add(chat_id, answer)
            html = fmt.answer_html(answer)
            markup = self.buttons(key, answer)
            previous = self.replies.get((chat_id, message.message_id)) if edited else None
            if previous is not None and await self.edit_reply(
                context.bot, chat_id, previous, html, markup
            ):
                sent_ids = [previous]
            else:
                sent_ids = [m.message_id for m in await self.reply(message, html, markup)]
            self.conversations.record(chat_id, message.message_id, Turn(question, answer))
            if len(sent_ids) == 1:
                self.replies[(chat_id, message.message_id)] = sent_ids[0]
                while len(self.replies) > ANSWERS_KEPT:
                    self.replies.popitem(last=False)
        log.info(
            "chat %s: %s in %.0f ms%s",
            chat_id,
            "abstained"
            if answer.abstained
            else f"answered with {len(answer.citations)} citation(s)",
            answer.timings_ms.get("total", 0.0),
            " (edited question)" if edited else "",
        )

    # -- handlers --

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.admit(update):
            return
        assert update.effective_message is not None
        user = update.effective_user
        await self.reply(
            update.effective_message,
            fmt.start_html(
                user.first_name if user else None,
                self.service.manifest,
                self.example(),
                group=not self.is_private(update),
            ),
        )

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.admit(update):
            return
        assert update.effective_message is not None
        await self.reply(
            update.effective_message,
            fmt.help_html(context.bot.username, self.tg.max_question_chars),
        )

    async def on_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.admit(update):
            return
        assert update.effective_message is not None
        await self.reply(update.effective_message, fmt.sources_html(self.service.manifest))

    async def on_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.admit(update):
            return
        message = update.effective_message
        assert message is not None
        async with self.lock(message.chat_id):  # not in the middle of an answer
            self.conversations.reset(message.chat_id)
        await self.reply(message, "Done: I've forgotten our conversation. Ask away.")

    async def on_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.admit(update):
            return
        message = update.effective_message
        assert message is not None
        # The raw text after the command, not context.args, which loses line breaks.
        parts = (message.text or "").split(maxsplit=1)
        question = parts[1] if len(parts) > 1 else ""
        if not question.strip():
            await self.reply(
                message, f"Usage: /ask QUESTION, for example: /ask {fmt.escape(self.example())}"
            )
            return
        await self.ask(update, context, question)

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.admit(update):
            return
        assert update.effective_message is not None
        await self.reply(
            update.effective_message, "I don't know that command. /help lists what I can do."
        )

    def question_in(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
        """The question a text message asks the bot; None for group chatter not meant for it."""
        message = update.effective_message
        assert message is not None
        if self.is_private(update):
            return message.text or ""
        return self.addressed(message, context.bot)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        question = self.question_in(update, context)
        if question is None or not await self.admit(update):
            return
        await self.ask(update, context, question)

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edited question is answered again, in place of the first answer if it can be."""
        question = self.question_in(update, context)
        if question is None or not await self.admit(update):
            return
        await self.ask(update, context, question, edited=True)

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice, files…: say what the bot reads."""
        message = update.effective_message
        assert message is not None
        if not self.is_private(update) and self.addressed(message, context.bot) is None:
            return
        if not await self.admit(update):
            return
        await self.reply(message, fmt.escape(TEXT_ONLY))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A "Show passage n" press: the passage in full, as a reply to the answer."""
        query = update.callback_query
        assert query is not None
        if not await self.admit(update):
            return
        parsed = fmt.parse_callback(query.data)
        origin = query.message if isinstance(query.message, Message) else None
        answer = self.answers.get(parsed[0], origin.chat_id) if parsed and origin else None
        citation = next((c for c in answer.citations if c.n == parsed[1]), None) if answer else None
        if origin is None or citation is None:
            await query.answer(STALE_BUTTON)
            return
        await query.answer()
        await self.reply(origin, fmt.passage_html(citation))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error and tell the chat; never raises, so no update can stop the bot."""
        error = context.error
        chat = update.effective_chat if isinstance(update, Update) else None
        if isinstance(error, Forbidden):
            # The user blocked the bot or removed it from the group: nobody to tell.
            log.warning("chat %s: %s", chat.id if chat else None, error)
            return
        log.error(
            "error while handling update %s",
            update.update_id if isinstance(update, Update) else update,
            exc_info=error,
        )
        if not isinstance(update, Update):
            return
        if update.callback_query:
            try:
                await update.callback_query.answer(ERROR_REPLY)
                return
            except TelegramError:
                pass  # answered already, before the failure: say it in the chat instead
        message = update.effective_message
        if message is not None:
            try:
                await self.reply(message, fmt.escape(ERROR_REPLY))
            except TelegramError as exc:
                log.warning("could not tell chat %s about the error: %s", message.chat_id, exc)


# --- building and running ------------------------------------------------------------------


def build_application(service: QAService, settings: Settings) -> Application:
    """The Application, handlers installed; not started."""
    tg = settings.telegram
    qa = QABot(service, settings)
    app = (
        ApplicationBuilder()
        .token(require_token(tg))
        .base_url(tg.api_base)
        .base_file_url(tg.file_base)
        .rate_limiter(RetryingRateLimiter(max_retries=3))
        .concurrent_updates(True)
        .post_init(qa.post_init)
        .post_shutdown(qa.post_shutdown)
        .build()
    )
    qa.install(app)
    app.bot_data["qabot"] = qa
    return app


def run(settings: Settings, service: QAService, secret: str | None = None) -> None:
    """Serve until SIGINT or SIGTERM (PTB's run_* handle both and shut down cleanly)."""
    tg = settings.telegram
    check_settings(tg)
    redactor = Redactor([require_token(tg), secret])
    app = build_application(service, settings)
    try:
        if tg.mode == "webhook":
            app.run_webhook(**webhook_options(tg, secret or webhook_secret(tg)))
        else:
            app.run_polling(**polling_options())
    except InvalidToken:
        raise TelegramSetupError(
            "Telegram rejected the bot token (TELEGRAM_BOT_TOKEN); check it with @BotFather"
        ) from None
    except TelegramError as exc:
        raise TelegramSetupError(f"Telegram: {redactor.redact(str(exc))}") from None


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
    with bot_logging([token, secret], verbose):
        username = check_token(tg)  # before the model loads: a bad token fails in a second
        log.info("token accepted for @%s; loading the index", username)
        service = open_service(settings)
        run(settings, service, secret)
