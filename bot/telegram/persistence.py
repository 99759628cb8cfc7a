"""The state file: chats' conversations and the buttons' passages, across restarts.

A `BasePersistence` of our own rather than PTB's `PicklePersistence`, which writes its file
in place (a crash mid-write leaves it truncated), rewrites the whole file once per changed
chat, has no format version, and fails the start with a TypeError on a damaged file. Here:

- one file, written whole to a temporary file, flushed and renamed over the old one (a
  reader sees the old state or the new, never half), at most once per `SAVE_EVERY` seconds
  and at shutdown (PTB flushes on SIGTERM and Ctrl-C);
- a header line names the format and the payload's sha256: a file that is truncated,
  garbage, or of another format version is moved aside (`<file>.damaged-<time>`) with one
  warning, and the bot starts afresh;
- only the classes the bot stores can be unpickled (`_Unpickler`): a planted file cannot
  run code;
- the chats are bounded by `telegram.chats_kept` (`bot.telegram.state`), the buttons by
  PTB's callback-data cache; a chat without a conversation is not written.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import io
import logging
import os
import pickle
from pathlib import Path
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput

from bot.telegram.state import CHAT_STATE, ChatState

log = logging.getLogger("bot.telegram")

STATE_FILE = "telegram-state.pickle"  # beside the index unless telegram.state_file says
FORMAT = 1  # raise when what is stored changes shape: older files are then set aside
MAGIC = b"qabot-telegram-state"
SAVE_EVERY = 10.0  # seconds; what a crash (not a clean stop) can lose

# Everything a state file may hold besides builtins: the chats' state and the buttons' data.
_ALLOWED = {
    ("collections", "OrderedDict"),
    ("bot.telegram.state", "ChatState"),
    ("bot.telegram.state", "PassageButton"),
    ("bot.service.answering", "ConversationState"),
    ("bot.core.types", "Turn"),
    ("bot.core.types", "Answer"),
    ("bot.core.types", "Citation"),
    ("bot.core.types", "Expectation"),
    ("bot.core.types", "Retrieved"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a state file")
        return super().find_class(module, name)


class StateError(Exception):
    """The state file cannot be used: why, in a few words."""


def encode(chat_data: dict[int, Any], callback_data: Any) -> bytes:
    payload = pickle.dumps(
        {"chat_data": chat_data, "callback_data": callback_data}, protocol=pickle.HIGHEST_PROTOCOL
    )
    digest = hashlib.sha256(payload).hexdigest()
    return b"%s %d %s\n" % (MAGIC, FORMAT, digest.encode()) + payload


def decode(raw: bytes) -> tuple[dict[int, Any], Any]:
    """The chat data and callback data of a state file's bytes; StateError if damaged."""
    header, _, payload = raw.partition(b"\n")
    parts = header.split(b" ")
    if len(parts) != 3 or parts[0] != MAGIC:
        raise StateError("not a qabot state file")
    if parts[1] != str(FORMAT).encode():
        version = parts[1].decode("ascii", "replace")[:20]
        raise StateError(f"format {version}, and this qabot reads format {FORMAT}")
    if hashlib.sha256(payload).hexdigest().encode() != parts[2]:
        raise StateError("truncated or corrupted")
    try:
        data = _Unpickler(io.BytesIO(payload)).load()
        chat_data, callback_data = data["chat_data"], data["callback_data"]
    except Exception as exc:  # a checksum that matches a bad payload: written by a bad qabot
        raise StateError(f"unreadable ({type(exc).__name__})") from None
    if not isinstance(chat_data, dict) or not all(
        isinstance(k, int) and isinstance(v, dict) and isinstance(v.get(CHAT_STATE), ChatState)
        for k, v in chat_data.items()
    ):
        raise StateError("its chats are not a qabot bot's")
    if callback_data is not None and not _buttons_shape(callback_data):
        raise StateError("its buttons are not a qabot bot's")
    return chat_data, callback_data


def _buttons_shape(data: Any) -> bool:
    """PTB's callback-data cache as it persists it: ([(keyboard, time, {button: data})],
    {query: keyboard}); anything else would fail PTB's start."""
    if not (isinstance(data, tuple) and len(data) == 2):
        return False
    keyboards, queries = data
    return (
        isinstance(keyboards, list)
        and all(isinstance(k, tuple) and len(k) == 3 and isinstance(k[2], dict) for k in keyboards)
        and isinstance(queries, dict)
    )


class StateFile(BasePersistence):
    """PTB persistence of chat_data and callback data in one file; see the module doc."""

    def __init__(self, path: Path, save_every: float | None = None):
        super().__init__(
            PersistenceInput(bot_data=False, chat_data=True, user_data=False, callback_data=True),
            update_interval=SAVE_EVERY if save_every is None else save_every,
        )
        self.path = path
        self.chat_data: dict[int, dict] = {}
        self.callback_data: Any = None
        self._loaded = False
        self._dirty = False
        self._saving: asyncio.Task | None = None
        self._write_failed: str | None = None

    # -- reading --

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read the state file %s (%s); starting afresh", self.path, exc)
            return
        try:
            self.chat_data, self.callback_data = decode(raw)
        except StateError as exc:
            self.chat_data, self.callback_data = {}, None
            log.warning(
                "the state file %s is damaged (%s); set aside as %s, starting afresh",
                self.path,
                exc,
                self._set_aside(),
            )
            return
        log.info("state file %s: %d chat(s) restored", self.path, len(self.chat_data))

    def _set_aside(self) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            return f"nothing (cannot rename it: {exc.strerror or exc})"
        return aside.name

    # Copies: the bot changes what it is given, and what is kept here is pickled in a thread.

    async def get_chat_data(self) -> dict[int, dict]:
        self._load()
        return copy.deepcopy(self.chat_data)

    async def get_callback_data(self) -> Any:
        self._load()
        return copy.deepcopy(self.callback_data)

    async def get_user_data(self) -> dict[int, dict]:
        return {}

    async def get_bot_data(self) -> dict:
        return {}

    async def get_conversations(self, name: str) -> dict:
        return {}

    # -- writing --

    async def update_chat_data(self, chat_id: int, data: dict) -> None:
        if CHAT_STATE not in data:
            # PTB hands over every chat that sent anything: only conversations are kept.
            await self.drop_chat_data(chat_id)
            return
        self.chat_data[chat_id] = data
        self._changed()

    async def drop_chat_data(self, chat_id: int) -> None:
        if self.chat_data.pop(chat_id, None) is not None:
            self._changed()

    async def update_callback_data(self, data: Any) -> None:
        if data != self.callback_data:
            self.callback_data = data
            self._changed()

    def _changed(self) -> None:
        # PTB hands over every changed chat at once; they are written once, together.
        self._dirty = True
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(self._save())

    async def _save(self) -> None:
        await asyncio.sleep(0)  # after the rest of this round of updates
        while self._dirty:  # changes that came while the file was being written
            self._dirty = False
            # PTB hands over deep copies and replaces them whole, never changes them: a
            # shallow copy is a snapshot the thread can pickle while the loop goes on.
            snapshot = (dict(self.chat_data), self.callback_data)
            if not await asyncio.to_thread(self._encode_and_write, *snapshot):
                self._dirty = True  # tried again next round
                return

    async def flush(self) -> None:
        if self._saving is not None:
            await self._saving
        if self._dirty:
            self._dirty = not self._encode_and_write(self.chat_data, self.callback_data)

    def _encode_and_write(self, chat_data: dict[int, dict], callback_data: Any) -> bool:
        try:
            raw = encode(chat_data, callback_data)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            # Something not plain data got into a chat's state: a bug, but no reason to stop.
            self._warn_once(f"cannot save the bot's state to {self.path} ({exc})")
            return False
        return self._write(raw)

    def _write(self, raw: bytes) -> bool:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # People's questions are in it: readable by the bot's own user only.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself survives a power cut
            finally:
                os.close(directory)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self._warn_once(f"cannot write the state file {self.path} ({exc.strerror or exc})")
            return False
        self._write_failed = None
        return True

    def _warn_once(self, message: str) -> None:
        if message != self._write_failed:  # once per kind of failure, not every round
            log.warning("%s", message)
        self._write_failed = message

    # -- what the bot does not store --

    async def update_user_data(self, user_id: int, data: dict) -> None:
        pass

    async def update_bot_data(self, data: dict) -> None:
        pass

    async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
        pass

    async def drop_user_data(self, user_id: int) -> None:
        pass

    async def refresh_user_data(self, user_id: int, user_data: dict) -> None:
        pass

    async def refresh_chat_data(self, chat_id: int, chat_data: dict) -> None:
        pass

    async def refresh_bot_data(self, bot_data: dict) -> None:
        pass
