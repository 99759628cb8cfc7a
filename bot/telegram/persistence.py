"""The state file: chats' conversations and the buttons' passages, across restarts.

A `BasePersistence` of our own rather than PTB's `PicklePersistence`, which writes its file
in place (a crash mid-write leaves it truncated), rewrites the whole file once per changed
chat, has no format version, and fails the start with a TypeError on a damaged file. Here:

- one file, written whole to a temporary file, flushed and renamed over the old one (a
  reader sees the old state or the new, never half), at most once per `SAVE_EVERY` seconds
  and at shutdown (PTB flushes on SIGTERM and Ctrl-C);
- what the file holds is `bot.telegram.stateformat`'s: a header naming the format and the
  payload's sha256, and only the bot's own classes in it. A file that is truncated, garbage,
  or of another format version is moved aside (`<file>.damaged-<time>`) with one warning,
  and the bot starts afresh; so is one that is not a regular file (a pipe, a device), larger
  than `MAX_STATE_BYTES`, or nested too deep, none of which is read whole or walked
  recursively;
- the chats are bounded by `telegram.chats_kept` (`bot.telegram.state`), the buttons by
  PTB's callback-data cache; a chat without a conversation is not written.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import errno
import logging
import os
import pickle
import stat
from pathlib import Path
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput

from bot.telegram.state import CHAT_STATE
from bot.telegram.stateformat import StateError, decode, encode

log = logging.getLogger("bot.telegram")

STATE_FILE = "telegram-state.pickle"  # beside the index unless telegram.state_file says
SAVE_EVERY = 10.0  # seconds; what a crash (not a clean stop) can lose
# A chat's turn takes about 0.5 KB in the file and a "Show passage" keyboard about 0.4 KB,
# so the defaults (1000 chats of 3 turns, 500 answers' buttons) make about 2 MB: 64 MB is
# some thirty times that. A larger file is not read (nor written: see `_encode_and_write`).
MAX_STATE_BYTES = 64 * 2**20


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
            self.chat_data, self.callback_data = decode(self._read())
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read the state file %s (%s); starting afresh", self.path, exc)
            return
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

    def _read(self) -> bytes:
        """The file's bytes; StateError unless a regular file of at most MAX_STATE_BYTES.

        Opened without blocking (a pipe with no writer would hold the start forever) and
        looked at before it is read (a device such as /dev/zero never ends). Not
        core.documents.sources.read_bytes: a front end reaches the core only through the service.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a socket
                raise StateError("not a regular file") from None
            raise
        with open(fd, "rb") as fh:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise StateError("not a regular file")
            if info.st_size > MAX_STATE_BYTES:
                raise StateError(f"{_mb(info.st_size)} is over the {_mb(MAX_STATE_BYTES)} limit")
            raw = fh.read(MAX_STATE_BYTES + 1)
        if len(raw) > MAX_STATE_BYTES:  # it grew while being read
            raise StateError(f"over the {_mb(MAX_STATE_BYTES)} limit")
        return raw

    def _set_aside(self) -> str:
        # A link to something bad (a pipe, /dev/zero) is set aside itself: the rename
        # moves the link, never what it points to.
        if not _replaceable(self.path):
            return "nothing (a device or a folder is left where it is)"
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
        if len(raw) > MAX_STATE_BYTES:
            # Written, it would be set aside at the next start; unwritten, the last state
            # that fits is what the next start restores.
            self._warn_once(  # no size in it: one warning, not one per round
                f"the bot's state is over the {_mb(MAX_STATE_BYTES)} a state file may hold: "
                f"not saved to {self.path}; lower telegram.chats_kept"
            )
            return False
        return self._write(raw)

    def _write(self, raw: bytes) -> bool:
        if not _replaceable(self.path):
            self._warn_once(f"cannot write the state file {self.path} (a device or a folder)")
            return False
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


def _replaceable(path: Path) -> bool:
    """Whether a state file may be renamed aside or replaced: not if it is a device or a
    folder (`state_file: /dev/null`, run as root, would otherwise move /dev/null)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return True  # none there, or nothing to protect that the rename could reach
    return not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISDIR(mode))


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"
