"""What the bot remembers per chat, in PTB's `chat_data`, and what its buttons carry.

Memory stays bounded however many people write: at most `CHATS_KEPT` chats are remembered
(the least recently active is dropped first), each with its last `history_turns` turns and
its last `REPLIES_KEPT` reply ids; PTB's callback-data cache keeps the buttons of the last
`ANSWERS_KEPT` answers, and a press on an older one arrives as `InvalidCallbackData`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telegram.ext import Application, ContextTypes

    from bot.core.types import Citation, Turn
    from bot.service import Conversation, QAService

ANSWERS_KEPT = 500  # recent answers whose "Show passage" buttons still work
CHATS_KEPT = 1000  # conversations kept; the least recently active is forgotten first
REPLIES_KEPT = 100  # per chat: recent questions whose edits update their answer in place

CHAT_STATE = "qabot"  # the key of a `ChatState` in a chat's chat_data


@dataclass(frozen=True)
class PassageButton:
    """What a "Show passage n" button carries, through PTB's arbitrary callback data.

    The chat is kept because a message can be forwarded and its buttons pressed elsewhere:
    a passage is shown only in the chat that asked.
    """

    chat_id: int
    citation: Citation


@dataclass
class ChatState:
    conversation: Conversation
    # question message id -> the one-message reply to it, so an edited question can have
    # its answer updated in place
    replies: OrderedDict[int, int] = field(default_factory=OrderedDict)

    def remember_reply(self, question_id: int, reply_id: int) -> None:
        self.replies[question_id] = reply_id
        self.replies.move_to_end(question_id)
        while len(self.replies) > REPLIES_KEPT:
            self.replies.popitem(last=False)


class Chats:
    """Each chat's `ChatState` in chat_data, and a lock per chat that is answering.

    A chat becomes the most recently active when a turn is recorded; reading never creates
    an entry, so chatter the bot does not answer costs no memory.
    """

    def __init__(self, service: QAService, history_turns: int):
        self.service = service
        self.history_turns = history_turns
        self.kept = CHATS_KEPT
        self._recent: OrderedDict[int, None] = OrderedDict()
        # Weak: a lock lives while an answer holds it, not for every chat ever seen.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, chat_id: int) -> asyncio.Lock:
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[chat_id] = lock
        return lock

    def peek(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> ChatState | None:
        data = context.application.chat_data.get(chat_id)
        return data.get(CHAT_STATE) if data else None

    def history(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, before: int) -> list[Turn]:
        """The chat's turns; for an edited question, those before its first version."""
        state = self.peek(context, chat_id)
        return state.conversation.history(before=before) if state else []

    def previous_reply(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, question_id: int
    ) -> int | None:
        state = self.peek(context, chat_id)
        return state.replies.get(question_id) if state else None

    def record(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        question_id: int,
        turn: Turn,
        reply_id: int | None,
    ) -> None:
        """Keep an answered turn (replacing an edited question's) and its one-message reply."""
        state = self._state(context, chat_id)
        state.conversation.record(turn, key=question_id)
        if reply_id is not None:
            state.remember_reply(question_id, reply_id)

    def document(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> str | None:
        """The one document the chat searches (`/doc NAME`), or None: every document."""
        state = self.peek(context, chat_id)
        return state.conversation.document if state else None

    def limit_to(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, document: str | None
    ) -> None:
        """Search only `document` in this chat (None: every one); QuestionError naming the
        documents when there is none of that name."""
        self._state(context, chat_id).conversation.limit_to(document)

    def reset(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
        state = self.peek(context, chat_id)
        if state is not None:
            state.conversation.reset()

    def _state(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> ChatState:
        data = context.chat_data  # the update's chat: created here if new
        assert data is not None
        state = data.get(CHAT_STATE)
        if state is None:
            state = data[CHAT_STATE] = ChatState(self.service.conversation(self.history_turns))
        self._touch(context.application, chat_id)
        return state

    def _touch(self, application: Application, chat_id: int) -> None:
        self._recent[chat_id] = None
        self._recent.move_to_end(chat_id)
        while len(self._recent) > self.kept:
            forgotten, _ = self._recent.popitem(last=False)
            application.drop_chat_data(forgotten)
