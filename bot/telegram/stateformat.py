"""What a state file holds, and how it is read back: bytes in, the bot's state out.

- a header line names the format and the payload's sha256: a file that is truncated,
  garbage, or of another format version is refused (`StateError`), and `persistence` sets it
  aside; so is one nested deeper than `MAX_DEPTH`, which is walked without recursion;
- only the classes the bot stores can be unpickled (`_Unpickler`): a planted file cannot
  run code;
- what comes out has the shape PTB expects of chat data and callback data, or is refused.

Where the file is and when it is written is `bot.telegram.persistence`'s business.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Iterator
from itertools import chain
from typing import Any

from bot.telegram.state import CHAT_STATE, ChatState

FORMAT = 1  # raise when what is stored changes shape: older files are then set aside
MAGIC = b"qabot-telegram-state"
# Containers and objects within each other: the bot's own state is a dozen deep (the file's
# dict, the chats, a chat, its ChatState, ..., a Citation's paragraphs). copy.deepcopy, which
# the state goes through at every start, spends up to five frames a level: 50 levels stay
# well under Python's 1000, and a file nested deeper would fail every start.
MAX_DEPTH = 50

# Everything a state file may hold besides builtins: the chats' state and the buttons' data,
# named as pickle names them (module, class): a class that moves to another module keeps its
# old name here and stays importable under it, or every file written before is set aside.
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
        if _too_deep(data, MAX_DEPTH):
            raise StateError(f"nested more than {MAX_DEPTH} deep, or refers to itself")
        chat_data, callback_data = data["chat_data"], data["callback_data"]
    except StateError:
        raise
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


_LEAVES = (str, bytes, bytearray, int, float, complex, type(None))


def _children(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):  # an OrderedDict too
        return chain.from_iterable(obj.items())
    if isinstance(obj, list | tuple | set | frozenset):
        return iter(obj)
    return iter(getattr(obj, "__dict__", {}).values())  # one of the _ALLOWED classes


def _too_deep(root: Any, limit: int) -> bool:
    """Whether some path down from `root` (through containers and objects' attributes) has
    more than `limit` of them on it, or comes back to one: without recursion, and each
    object walked once however often it is referred to (a pickle can share one widely)."""
    if isinstance(root, _LEAVES):
        return False
    height: dict[int, int] = {}  # a walked object: the most objects on a path down from it
    on_path = {id(root)}
    path: list[list[Any]] = [[root, _children(root), 0]]  # object, children to go, height
    while path:
        top = path[-1]
        for child in top[1]:
            if isinstance(child, _LEAVES):
                continue
            key = id(child)
            if key in on_path:
                return True  # a cycle: the bot's state never has one
            if key in height:
                if len(path) + height[key] > limit:
                    return True
                top[2] = max(top[2], height[key])
                continue
            if len(path) >= limit:
                return True
            on_path.add(key)
            path.append([child, _children(child), 0])
            break
        else:
            path.pop()
            on_path.discard(id(top[0]))
            height[id(top[0])] = top[2] + 1
            if path:
                path[-1][2] = max(path[-1][2], top[2] + 1)
    return False


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
