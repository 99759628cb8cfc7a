"""Sending: replies threaded to the question and split to fit, in-place edits of an earlier
answer, the "typing…" action, and the "Show passage" buttons.

What every message is sent with is set once, on the Application (`SEND_DEFAULTS`), not on
each call: HTML, no link previews, threaded only where a reply says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Defaults

from bot.telegram import format as fmt
from bot.telegram.state import PassageButton

if TYPE_CHECKING:
    from bot.core.types import Answer

log = logging.getLogger("bot.telegram")

TYPING_EVERY = 4.0  # seconds; Telegram shows "typing" for about 5 s after each action

SEND_DEFAULTS = Defaults(
    parse_mode=ParseMode.HTML,  # everything the bot writes is `bot.telegram.format`'s HTML
    # A cited passage or a document name can hold a URL: no preview card under an answer.
    link_preview_options=LinkPreviewOptions(is_disabled=True),
    # Only a reply's first part is threaded to the question (its ReplyParameters); the rest
    # follow it unthreaded, in groups too, where PTB would otherwise thread each one.
    do_quote=False,
    # A question deleted while it is answered still gets its answer.
    allow_sending_without_reply=True,
)


async def reply(
    message: Message, html: str, markup: InlineKeyboardMarkup | None = None
) -> list[Message]:
    """Send `html` threaded to `message`, split if long; buttons go under the last part."""
    parts = fmt.split_html(html)
    sent = []
    for i, part in enumerate(parts):
        sent.append(
            await message.reply_text(
                part,
                reply_parameters=ReplyParameters(message.message_id) if i == 0 else None,
                reply_markup=markup if i == len(parts) - 1 else None,
            )
        )
    return sent


async def edit_reply(
    bot: Bot, chat_id: int, message_id: int, html: str, markup: InlineKeyboardMarkup | None
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
            reply_markup=markup,
        )
    except BadRequest as exc:
        if "not modified" in str(exc).lower():
            return True  # the same answer as before: nothing to change
        log.info(
            "could not edit reply %s in chat %s (%s); sending a new one", message_id, chat_id, exc
        )
        return False
    return True


@contextlib.asynccontextmanager
async def typing(bot: Bot, message: Message) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends."""
    thread_id = message.message_thread_id if message.is_topic_message else None

    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(
                    message.chat_id, ChatAction.TYPING, message_thread_id=thread_id
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


def passage_buttons(chat_id: int, answer: Answer) -> InlineKeyboardMarkup | None:
    """One "Show passage n" button per citation, or after "doesn't say" one for the passage
    that came closest; PTB keeps what each carries."""
    shown = answer.citations or answer.closest
    if not shown:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    fmt.passage_button_label(c), callback_data=PassageButton(chat_id, c)
                )
            ]
            for c in shown
        ]
    )
