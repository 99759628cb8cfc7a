"""What happens when handling an update fails: the error is logged, the chat is told, and
the bot goes on (no update can stop it)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.telegram import format as fmt
from bot.telegram.send import reply

log = logging.getLogger("bot.telegram")

ERROR_REPLY = "Sorry, something went wrong while answering. Please try again."


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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
            await reply(message, fmt.escape(ERROR_REPLY))
        except TelegramError as exc:
            log.warning("could not tell chat %s about the error: %s", message.chat_id, exc)
