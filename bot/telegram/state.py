"""What the bot remembers per chat, in PTB's `chat_data`, and what its buttons carry.

All of it is plain data (no service, engine or arrays), so PTB's persistence can write it
to the state file (`bot.telegram.persistence`) and a restart picks up where the bot was.
Memory stays bounded however many people write: at most `telegram.chats_kept` chats are
remembered (the least recently active is dropped first, also across restarts), each with
its last `history_turns` turns and its last `REPLIES_KEPT` reply ids; PTB's callback-data
cache keeps the buttons of the last `ANSWERS_KEPT` answers, and a press on an older one
arrives as `InvalidCallbackData`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.types import Turn
from bot.service import ConversationState

if TYPE_CHECKING:
    from telegram.ext import Application, ContextTypes

    from bot.core.types import Citation
    from bot.service import Conversation, QAService

ANSWERS_KEPT = 500  # recent answers whose "Show passage" buttons still work
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
    talk: ConversationState = field(default_factory=ConversationState)
    # question message id -> the one-message reply to it, so an edited question can have
    # its answer updated in place
    replies: OrderedDict[int, int] = field(default_factory=OrderedDict)
    active: float = 0.0  # time.time() of its last turn or /doc: who is forgotten first

    def remember_reply(self, question_id: int, reply_id: int) -> None:
        self.replies[question_id] = reply_id
        self.replies.move_to_end(question_id)
        while len(self.replies) > REPLIES_KEPT:
            self.replies.popitem(last=False)


class Chats:
    """Each chat's `ChatState` in chat_data, and a lock per chat that is answering.

    A chat becomes the most recently active when a turn is recorded or it chooses a
    document; reading never creates a state, so chatter the bot does not answer costs no
    more than the empty entry PTB's persistence makes for it, swept now and then.
    """

    def __init__(self, service: QAService, history_turns: int, kept: int):
        self.service = service
        self.history_turns = history_turns
        self.kept = kept
        self._recent: OrderedDict[int, None] = OrderedDict()
        # Weak: a lock lives while an answer holds it, not for every chat ever seen.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, chat_id: int) -> asyncio.Lock:
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[chat_id] = lock
        return lock

    def restore(self, application: Application) -> None:
        """After the state file is read: the chats in the order they were last active, the
        oldest over the bound forgotten (chats_kept may have been lowered)."""
        states = {
            chat_id: data[CHAT_STATE]
            for chat_id, data in application.chat_data.items()
            if isinstance(data.get(CHAT_STATE), ChatState)
        }
        for chat_id in list(application.chat_data):
            if chat_id not in states:
                application.drop_chat_data(chat_id)
        for chat_id in sorted(states, key=lambda c: states[c].active):
            self._touch(application, chat_id)

    def conversation(self, state: ChatState) -> Conversation:
        """The chat's conversation, around the live service (whichever build it answers
        from now)."""
        return self.service.conversation(self.history_turns, state.talk)

    def peek(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> ChatState | None:
        data = context.application.chat_data.get(chat_id)
        return data.get(CHAT_STATE) if data else None

    def history(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, before: int) -> list[Turn]:
        """The chat's turns; for an edited question, those before its first version."""
        state = self.peek(context, chat_id)
        return self.conversation(state).history(before=before) if state else []

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
        self.conversation(state).record(kept_turn(turn), key=question_id)
        if reply_id is not None:
            state.remember_reply(question_id, reply_id)

    def document(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> str | None:
        """The one document the chat searches (`/doc NAME`), or None: every document."""
        state = self.peek(context, chat_id)
        return state.talk.document if state else None

    def limit_to(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, document: str | None
    ) -> None:
        """Search only `document` in this chat (None: every one); QuestionError naming the
        documents when there is none of that name."""
        self.conversation(self._state(context, chat_id)).limit_to(document)

    def reset(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
        state = self.peek(context, chat_id)
        if state is not None:
            self.conversation(state).reset()

    def _state(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> ChatState:
        data = context.chat_data  # the update's chat: created here if new
        assert data is not None
        state = data.get(CHAT_STATE)
        if state is None:
            state = data[CHAT_STATE] = ChatState()
        state.active = time.time()
        self._touch(context.application, chat_id)
        return state

    def _touch(self, application: Application, chat_id: int) -> None:
        self._recent[chat_id] = None
        self._recent.move_to_end(chat_id)
        while len(self._recent) > self.kept:
            forgotten, _ = self._recent.popitem(last=False)
            application.drop_chat_data(forgotten)
        if len(application.chat_data) > 2 * self.kept:
            # With a state file, PTB makes an empty entry for every chat that sent anything
            # (group chatter, strangers): those without a conversation go.
            for idle in [c for c in application.chat_data if c not in self._recent]:
                application.drop_chat_data(idle)


def kept_turn(turn: Turn) -> Turn:
    """What a chat keeps of a turn: what a follow-up reads (the question and what was
    searched), not the passages and scores behind it, which the buttons carry anyway."""
    answer = dataclasses.replace(turn.answer, citations=(), retrieved=(), timings_ms={})
    return Turn(turn.question, answer)
