"""The bot's handlers: commands, questions, buttons, errors.

- Updates are processed concurrently; the engine runs in a thread pool, so a slow question
  never stalls other chats. Questions from one chat are answered in order (a per-chat lock),
  because a follow-up needs the answer before it.
- Each question, /start and /sources first take up a new build of the index, if another
  process has made one (`bot.telegram.live`).
- Who is answered is decided before any of these runs, by `bot.telegram.access.Gate`.
- Every failure ends in `bot.telegram.errors.on_error`: it logs and apologises to the chat.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from telegram import BotCommand, Message, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InvalidCallbackData,
    MessageHandler,
    filters,
)

from bot.config import BUNDLED_DOCUMENT
from bot.core.errors import QuestionError
from bot.core.types import Turn
from bot.telegram import format as fmt
from bot.telegram.access import FOR_THE_BOT, question_in
from bot.telegram.errors import on_error
from bot.telegram.live import LiveIndex
from bot.telegram.send import edit_reply, passage_buttons, reply, typing
from bot.telegram.state import Chats, PassageButton
from bot.telegram.stats import Stats

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.types import Answer
    from bot.service import QAService

log = logging.getLogger("bot.telegram")

COMMANDS = [
    ("ask", "Ask a question: /ask QUESTION"),
    ("sources", "What I have read"),
    ("doc", "Search one document: /doc NAME (/doc alone: all)"),
    ("reset", "Forget our conversation"),
    ("help", "How to use me"),
    ("start", "Hello and an example question"),
]
ARTICLE_EXAMPLE = "How big is Japan's trade surplus with the US?"
ENGINE_THREADS = 4

STALE_BUTTON = "That passage is no longer available — ask again."
TEXT_ONLY = "I answer text questions about the document. Send me your question as a text message."

# --- the handlers ---------------------------------------------------------------------------


class Handlers:
    """The handlers of one Application, over one service."""

    def __init__(self, service: QAService, settings: Settings, stats: Stats | None = None):
        self.service = service
        self.stats = stats or Stats()
        self.tg = settings.telegram
        self.chats = Chats(service, settings.history_turns, self.tg.chats_kept)
        self.executor = ThreadPoolExecutor(ENGINE_THREADS, thread_name_prefix="qabot-answer")
        self.live = LiveIndex(service, self.executor)

    def install(self, app: Application) -> None:
        message = filters.UpdateType.MESSAGE
        text = filters.TEXT & ~filters.COMMAND & FOR_THE_BOT
        for name, callback in (
            ("start", self.on_start),
            ("help", self.on_help),
            ("sources", self.on_sources),
            ("doc", self.on_doc),
            ("reset", self.on_reset),
            ("ask", self.on_ask),
        ):
            app.add_handler(CommandHandler(name, callback, filters=message))
        private = filters.ChatType.PRIVATE
        app.add_handler(MessageHandler(filters.COMMAND & message & private, self.on_unknown))
        app.add_handler(MessageHandler(text & message, self.on_text))
        app.add_handler(MessageHandler(text & filters.UpdateType.EDITED_MESSAGE, self.on_edited))
        other = message & ~filters.TEXT & ~filters.StatusUpdate.ALL & FOR_THE_BOT
        app.add_handler(MessageHandler(other, self.on_other))
        # A button dropped from PTB's cache, or from before a restart; PTB also hands this
        # handler a press without data, as it does any handler with a pattern.
        app.add_handler(CallbackQueryHandler(self.on_stale_button, pattern=InvalidCallbackData))
        app.add_handler(CallbackQueryHandler(self.on_passage, pattern=PassageButton))
        app.add_error_handler(on_error)

    async def post_init(self, app: Application) -> None:
        self.chats.restore(app)
        self.live.install()
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        log.info(
            "@%s answers questions about %s (%d passages), by %s",
            app.bot.username,
            fmt.document_names(self.service.manifest),
            self.service.manifest.chunk_count,
            self.tg.mode,
        )

    async def post_shutdown(self, app: Application) -> None:
        self.live.remove()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def example(self) -> str:
        if self.tg.example_question:
            return self.tg.example_question
        sources = self.service.manifest.sources
        if any(Path(s.path).resolve() == BUNDLED_DOCUMENT.resolve() for s in sources):
            return ARTICLE_EXAMPLE
        heading = self.service.first_heading
        return f"What does it say about {heading}?" if heading else "What is it about?"

    # -- commands --

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        user = update.effective_user
        group = message.chat.type != ChatType.PRIVATE
        name = user.first_name if user else None
        await self.live.refresh()
        html = fmt.start_html(name, self.service.manifest, self.example(), group=group)
        await reply(message, html)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        html = fmt.help_html(context.bot.username, self.tg.max_question_chars)
        await reply(update.effective_message, html)

    async def on_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await self.live.refresh()
        await reply(update.effective_message, fmt.sources_html(self.service.manifest))

    async def on_doc(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        parts = (message.text or "").split(maxsplit=1)
        name = parts[1].strip() if len(parts) > 1 else None
        async with self.chats.lock(message.chat_id):
            try:
                self.chats.limit_to(context, message.chat_id, name)
            except QuestionError as exc:
                await reply(message, fmt.escape(f"Sorry, {exc}."))
                return
        where = f"only <b>{fmt.escape(name)}</b>" if name else "every document"
        await reply(message, f"From now on I search {where} in this chat.")

    async def on_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        async with self.chats.lock(message.chat_id):  # not in the middle of an answer
            self.chats.reset(context, message.chat_id)
        await reply(message, "Done: I've forgotten our conversation. Ask away.")

    async def on_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        # The raw text after the command, not context.args, which loses line breaks.
        parts = (message.text or "").split(maxsplit=1)
        question = parts[1] if len(parts) > 1 else ""
        if not question.strip():
            usage = f"Usage: /ask QUESTION, for example: /ask {fmt.escape(self.example())}"
            await reply(message, usage)
            return
        await self.ask(message, context, question)

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await reply(
            update.effective_message, "I don't know that command. /help lists what I can do."
        )

    # -- messages and buttons --

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await self.ask(update.message, context, question_in(update.message))

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edited question is answered again, in place of the first answer if it can be."""
        message = update.edited_message
        assert message is not None
        await self.ask(message, context, question_in(message), edited=True)

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice, files…: say what the bot reads."""
        assert update.message is not None
        await reply(update.message, fmt.escape(TEXT_ONLY))

    async def on_passage(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A "Show passage n" press: the passage in full, as a reply to the answer."""
        query = update.callback_query
        assert query is not None and isinstance(query.data, PassageButton)
        origin = query.message if isinstance(query.message, Message) else None
        if origin is None or origin.chat_id != query.data.chat_id:
            await query.answer(STALE_BUTTON)
            return
        await query.answer()
        outdated = not await self.live.still_indexed(query.data.citation)
        await reply(origin, fmt.passage_html(query.data.citation, outdated))

    async def on_stale_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer(STALE_BUTTON)

    # -- answering --

    async def ask(
        self,
        message: Message,
        context: ContextTypes.DEFAULT_TYPE,
        question: str,
        edited: bool = False,
    ) -> None:
        question = " ".join(question.split())
        limit = self.tg.max_question_chars
        if not question:
            example = fmt.escape(self.example())
            await reply(
                message, f"Ask me a question about the document, for example: <i>{example}</i>"
            )
        elif len(question) > limit:
            await reply(
                message,
                f"That question is {len(question):,} characters long; I read questions of up "
                f"to {limit:,}. Could you shorten it?",
            )
        else:
            received = time.monotonic()
            async with self.chats.lock(message.chat_id):
                answer = await self.answer(message, context, question, edited)
            if answer is not None:
                self.stats.record(answer, (time.monotonic() - received) * 1000)
                n = len(answer.citations)
                outcome = "abstained" if answer.abstained else f"answered with {n} citation(s)"
                log.info(
                    "chat %s: %s in %.0f ms%s",
                    message.chat_id,
                    outcome,
                    answer.timings_ms.get("total", 0.0),
                    " (edited question)" if edited else "",
                )

    async def answer(
        self, message: Message, context: ContextTypes.DEFAULT_TYPE, question: str, edited: bool
    ) -> Answer | None:
        """Answer under the chat's lock: compute, send (or edit in place), remember the turn."""
        chat_id = message.chat_id
        history = self.chats.history(context, chat_id, before=message.message_id)
        document = self.chats.document(context, chat_id)
        try:
            async with typing(context.bot, message):
                answer = await self.live.answer(question, history, document)
        except QuestionError as exc:
            await reply(message, fmt.escape(f"Sorry, {exc}."))
            return None
        html, markup = fmt.answer_html(answer), passage_buttons(chat_id, answer)
        previous = (
            self.chats.previous_reply(context, chat_id, message.message_id) if edited else None
        )
        if previous is not None and await edit_reply(context.bot, chat_id, previous, html, markup):
            sent_ids = [previous]
        else:
            sent_ids = [m.message_id for m in await reply(message, html, markup)]
        one_message = sent_ids[0] if len(sent_ids) == 1 else None
        self.chats.record(context, chat_id, message.message_id, Turn(question, answer), one_message)
        return answer
