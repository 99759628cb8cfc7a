"""Who the bot answers, and what is meant for it.

- `FOR_THE_BOT`: in a group the bot answers only mentions and replies to it (and commands,
  which their handlers filter), so group chatter reaches no handler at all.
- `admitted`: with an allow-list set, everyone else gets one polite refusal (an alert for a
  button press) and nothing is computed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from telegram import Bot, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import ContextTypes, filters

from bot.telegram import format as fmt
from bot.telegram.send import reply

log = logging.getLogger("bot.telegram")

REFUSAL = "Sorry, this bot is private: it answers only the people it was set up for."

_MENTIONS = [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]


def addressed(message: Message, bot: Bot) -> str | None:
    """In a group: the text with the bot's @mention removed if the message is meant for the
    bot (a mention, or a reply to one of its messages); None if it is not."""
    text = message.text or message.caption or ""
    entities = (
        message.parse_entities(_MENTIONS)
        if message.text
        else message.parse_caption_entities(_MENTIONS)
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


def question_in(message: Message) -> str:
    """The question in a message that `FOR_THE_BOT` let through."""
    if message.chat.type == ChatType.PRIVATE:
        return message.text or ""
    return addressed(message, message.get_bot()) or ""


class _ForTheBot(filters.MessageFilter):
    def filter(self, message: Message) -> bool:
        return (
            message.chat.type == ChatType.PRIVATE
            or addressed(message, message.get_bot()) is not None
        )


FOR_THE_BOT = _ForTheBot(name="FOR_THE_BOT")


@dataclass(frozen=True)
class AllowList:
    """Users allowed anywhere, and chats where everyone is; both empty: everyone."""

    users: frozenset[int] = frozenset()
    chats: frozenset[int] = frozenset()

    def allows(self, update: Update) -> bool:
        if not self.users and not self.chats:
            return True
        user, chat = update.effective_user, update.effective_chat
        return (user is not None and user.id in self.users) or (
            chat is not None and chat.id in self.chats
        )

    async def refuse(self, update: Update) -> None:
        user, chat = update.effective_user, update.effective_chat
        log.info(
            "refused user %s in chat %s (not in the allowlist)",
            user.id if user else None,
            chat.id if chat else None,
        )
        if update.callback_query:
            await update.callback_query.answer(REFUSAL, show_alert=True)
        elif update.effective_message:
            await reply(update.effective_message, fmt.escape(REFUSAL))


class Gated(Protocol):
    allow_list: AllowList


G = TypeVar("G", bound=Gated)
Callback = Callable[[G, Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def admitted(handler: Callback[G]) -> Callback[G]:
    """A handler method that runs only for senders its object's allow-list admits."""

    @functools.wraps(handler)
    async def gate(self: G, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self.allow_list.allows(update):
            await handler(self, update, context)
        else:
            await self.allow_list.refuse(update)

    return gate
