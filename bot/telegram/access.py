"""Who the bot answers, and what is meant for it.

- `FOR_THE_BOT`: in a group the bot answers only mentions and replies to it (and commands,
  which their handlers filter), so group chatter reaches no handler at all.
- `Gate`: with an allow-list set, one handler in front of all the others (PTB's group -1)
  turns everyone else away: one polite refusal (an alert for a button press) for what a
  handler would have taken, silence for the rest, and nothing is computed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    ContextTypes,
    TypeHandler,
    filters,
)

from bot.telegram import format as fmt
from bot.telegram.send import reply

if TYPE_CHECKING:
    from bot.config import TelegramSettings

log = logging.getLogger("bot.telegram")

# PTB runs the groups in order, one handler of each at most: the bot's handlers are all in
# PTB's default group, 0, and the gate goes before them.
GATE_GROUP, HANDLERS_GROUP = -1, 0
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

    @classmethod
    def of(cls, tg: TelegramSettings) -> AllowList:
        return cls(frozenset(tg.allowed_users), frozenset(tg.allowed_chats))

    @property
    def everyone(self) -> bool:
        return not self.users and not self.chats

    def allows(self, update: Update) -> bool:
        if self.everyone:
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


class Gate:
    """The allow-list, checked once for every update before any handler sees it: a
    `TypeHandler` in group -1 that ends an update it does not admit (`ApplicationHandlerStop`).

    Only an update one of the bot's handlers would have taken is refused; the rest (group
    chatter, a command for another bot) get the silence they would have got. `exempt`
    handlers answer whoever they take (the admins' /stats), allow-list or not.
    """

    def __init__(self, allow_list: AllowList, exempt: Sequence[BaseHandler[Any, Any, Any]] = ()):
        self.allow_list = allow_list
        self.exempt = tuple(exempt)

    def install(self, app: Application) -> None:
        # Without an allow-list there is nobody to turn away: no handler, no cost per update.
        if not self.allow_list.everyone:
            app.add_handler(TypeHandler(Update, self.check), group=GATE_GROUP)

    async def check(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self.allow_list.allows(update) or any(_takes(h, update) for h in self.exempt):
            return  # on to the handlers
        app = context.application
        if any(_takes(handler, update) for handler in app.handlers.get(HANDLERS_GROUP, [])):
            try:
                await self.allow_list.refuse(update)
            except Exception as exc:
                # What PTB does with a handler's failure (logged, the chat told); raising it
                # instead would let the update go on to the handlers.
                await app.process_error(update, exc)
        raise ApplicationHandlerStop


def _takes(handler: BaseHandler[Any, Any, Any], update: Update) -> bool:
    """Whether PTB would run `handler` for `update` (its own test, in process_update)."""
    check = handler.check_update(update)
    return check is not None and check is not False
