"""What the bot remembers outlives a restart: conversations and the passages behind buttons
go to the state file (bot/telegram/persistence.py), which stays small, plain and bounded; a
damaged one is set aside and the bot starts afresh. Real bot, fake Bot API, real engine."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import pickle
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.telegram import persistence, stateformat
from bot.telegram.state import CHAT_STATE, ChatState
from bot.telegram.stateformat import StateError, decode, encode
from tests.telegram.fake_server import OTHER_USER, TOKEN, USER, FakeTelegram, FakeTelegramThread
from tests.telegram.harness import polling, serve_process, stop_process
from tests.telegram.test_bot import (
    AMBASSADOR,
    bot_warnings,
    buttons,
    eventually,
    press_and_wait,
    questions_kept,
    run,
    turns_kept,
)

NAKANO = "Who is Koichi Nakano?"
FOLLOW_UP = "Which university is he at?"  # the article does not say, without the turn before
THIRD = {"id": 444, "is_bot": False, "first_name": "Cy"}
FOURTH = {"id": 555, "is_bot": False, "first_name": "Di"}


class _Recording(pickle.Unpickler):
    """Every class a pickle names, loaded or not."""

    def __init__(self, raw: bytes):
        super().__init__(io.BytesIO(raw))
        self.named: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str):
        self.named.add((module, name))
        return super().find_class(module, name)


def _classes_in(raw: bytes) -> set[tuple[str, str]]:
    _, _, payload = raw.partition(b"\n")
    unpickler = _Recording(payload)
    unpickler.load()
    return unpickler.named


# --- a real process, stopped and started again -------------------------------------------


def test_a_restarted_process_keeps_buttons_and_conversations(index_env):
    """SIGTERM, start again: an old "Show passage" button still shows its passage, and a
    follow-up leans on the question asked before the restart."""
    thread = FakeTelegramThread()
    with thread as server:
        env = {**index_env, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": server.api_base}
        process = serve_process(env)
        try:
            thread.call(server.wait_calls("setMyCommands", timeout=90), timeout=100)
            answer = thread.call(server.reply_to(thread.do(lambda: server.message(NAKANO))))
            assert "Koichi Nakano" in answer["text"]
        finally:
            _, first_err = stop_process(process, signal.SIGTERM)
        assert process.returncode == 0, first_err
        state_file = Path(index_env["QABOT_INDEX_DIR"]) / persistence.STATE_FILE
        assert state_file.is_file()  # beside the index, written at the stop

        process = serve_process(env)
        try:
            thread.call(server.wait_calls("setMyCommands", count=2, timeout=90), timeout=100)
            data = buttons(answer)[0]["callback_data"]
            thread.do(lambda: server.press(answer, data))
            passage = thread.call(server.reply_to(answer, timeout=30))
            assert passage["text"].startswith("[1] article.txt ¶11")
            assert "Sophia University" in passage["text"]
            assert "indexed again" not in passage["text"]  # the same build: no note

            follow = thread.do(lambda: server.message(FOLLOW_UP))
            assert "Sophia University" in thread.call(server.reply_to(follow, timeout=30))["text"]
            # The same words in a chat with no earlier turn: the article does not say.
            alone = thread.do(lambda: server.message(FOLLOW_UP, user=OTHER_USER))
            alone_reply = thread.call(server.reply_to(alone, timeout=30))
            assert alone_reply["text"].startswith("The document doesn't say.")
        finally:
            out, err = stop_process(process, signal.SIGTERM)
    assert process.returncode == 0, err
    assert "1 chat(s) restored" in err
    assert "Traceback" not in first_err + err and "WARNING bot." not in first_err + err
    assert TOKEN not in out + err + first_err


# --- what the file holds -------------------------------------------------------------------


def test_the_state_file_is_small_plain_data_written_whole(engine, tmp_path):
    path = tmp_path / "state" / "bot.pickle"  # a folder that does not exist yet

    async def scenario():
        async with FakeTelegram() as server:
            async with polling(server, engine, state_file=str(path)):
                answer = await server.reply_to(server.message(NAKANO))
                await server.reply_to(server.message(AMBASSADOR, user=OTHER_USER))
            assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
            assert path.stat().st_mode & 0o077 == 0  # people's questions: the bot's user only
            raw = path.read_bytes()
            assert len(raw) < 20_000, len(raw)
            named = _classes_in(raw)
            # Only the bot's own plain records: no service, engine, index or numpy array.
            assert ("bot.core.types", "Turn") in named
            assert ("bot.telegram.state", "PassageButton") in named
            assert named <= stateformat._ALLOWED, named - stateformat._ALLOWED
            chat_data, (keyboards, _) = decode(raw)
            assert set(chat_data) == {USER["id"], OTHER_USER["id"]} and len(keyboards) == 2

            async with polling(server, engine, state_file=str(path)) as app:
                # What a follow-up reads came back: the question and what was searched.
                assert turns_kept(app, USER["id"]) == [(NAKANO, NAKANO)]
                pressed = await press_and_wait(server, answer, buttons(answer)[0]["callback_data"])
                assert "text" not in pressed  # not "no longer available"
                assert (await server.reply_to(answer))["text"].startswith("[1] article.txt ¶11")

    run(scenario())


def test_the_state_is_written_while_the_bot_runs(engine, tmp_path, monkeypatch):
    """Not only at the stop: a crash loses at most the last round of changes."""
    monkeypatch.setattr(persistence, "SAVE_EVERY", 0.2)
    path = tmp_path / "state.pickle"

    async def scenario():
        async with FakeTelegram() as server, polling(server, engine, state_file=str(path)):
            await server.reply_to(server.message(NAKANO))
            chats = await eventually(lambda: path.is_file() and decode(path.read_bytes())[0])
            assert list(chats) == [USER["id"]]

    run(scenario())


# --- a damaged file ------------------------------------------------------------------------


def _valid() -> bytes:
    return encode({USER["id"]: {CHAT_STATE: ChatState()}}, None)


class _Planted:
    """A pickle that would run code when loaded: open() a file."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def _checked(payload: bytes) -> bytes:
    """`payload` as a state file: the right header, the right checksum."""
    digest = hashlib.sha256(payload).hexdigest().encode()
    return b"%s %d %s\n" % (stateformat.MAGIC, stateformat.FORMAT, digest) + payload


def _planted(target: Path) -> bytes:
    return _checked(pickle.dumps({"chat_data": {}, "callback_data": _Planted(target)}))


@pytest.mark.parametrize(
    ("kind", "content", "reason"),
    [
        ("garbage", lambda _t: b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff" * 50, "not a qabot state"),
        ("truncated", lambda _t: _valid()[: len(_valid()) * 2 // 3], "truncated or corrupted"),
        ("empty", lambda _t: b"", "not a qabot state"),
        ("future", lambda _t: _valid().replace(b" 1 ", b" 2 ", 1), "format 2, and this qabot"),
        ("planted", _planted, "unreadable"),
    ],
)
def test_a_damaged_state_file_is_set_aside_with_one_warning(
    engine, tmp_path, caplog, kind, content, reason
):
    caplog.set_level(logging.INFO)
    path = tmp_path / "state.pickle"
    target = tmp_path / "ran-code"
    bad = content(target)
    path.write_bytes(bad)

    async def scenario():
        async with FakeTelegram() as server:
            async with polling(server, engine, state_file=str(path)):
                reply = await server.reply_to(server.message(AMBASSADOR))
                assert "Cheng Yonghua" in reply["text"]
            [aside] = tmp_path.glob("state.pickle.damaged-*")
            assert aside.read_bytes() == bad  # kept for a look, not lost
            assert list(decode(path.read_bytes())[0]) == [USER["id"]]  # a fresh file since

    run(scenario())
    warnings = bot_warnings(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "is damaged" in message and reason in message and "damaged-" in message
    assert not target.exists()  # the planted pickle ran nothing
    assert "Traceback" not in caplog.text


# --- not a state file at all: never read whole, never waited on --------------------------

DEPTH = 100_000


def _nested(_tmp: Path) -> Path:
    """A state file as a qabot could write one, whose chat nests a list 100,000 deep: every
    start failed on it (copying the chats), and it was never set aside."""
    marker = "the nested list goes here"
    chats = {USER["id"]: {CHAT_STATE: ChatState(), "more": marker}}
    # Protocol 2 has no frames: one value's opcodes can be swapped for others. Built by
    # hand, as pickle.dumps would itself recurse that deep: an empty list DEPTH + 1 times,
    # then each APPENDed to the one below it.
    payload = pickle.dumps({"chat_data": chats, "callback_data": None}, protocol=2)
    string = pickle.dumps(marker, protocol=2)[2:-3]  # no PROTO, and no BINPUT and STOP
    assert payload.count(string) == 1
    _tmp.joinpath("state.pickle").write_bytes(
        _checked(payload.replace(string, b"]" * (DEPTH + 1) + b"a" * DEPTH))
    )
    return _tmp / "state.pickle"


def _cyclic(_tmp: Path) -> Path:
    loop: list = []
    loop.append(loop)
    chats = {USER["id"]: {CHAT_STATE: ChatState(), "more": loop}}
    _tmp.joinpath("state.pickle").write_bytes(
        _checked(pickle.dumps({"chat_data": chats, "callback_data": None}))
    )
    return _tmp / "state.pickle"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "state.pickle")  # nobody writes: opening it would wait forever
    return tmp / "state.pickle"


def _device(tmp: Path) -> Path:
    (tmp / "state.pickle").symlink_to("/dev/zero")  # never ends
    return tmp / "state.pickle"


def _huge(tmp: Path) -> Path:
    with open(tmp / "state.pickle", "wb") as fh:
        fh.truncate(3 * 2**30 // 2)  # 1.5 GB, sparse: no disk
    return tmp / "state.pickle"


NOT_STATE = [
    ("fifo", _fifo, "not a regular file", lambda aside: stat.S_ISFIFO(aside.lstat().st_mode)),
    ("device", _device, "not a regular file", lambda aside: aside.readlink() == Path("/dev/zero")),
    ("huge", _huge, "1536.0 MB is over the 64.0 MB limit", lambda a: a.stat().st_size == 3 * 2**29),
    ("nested", _nested, f"nested more than {stateformat.MAX_DEPTH} deep", Path.is_file),
    ("cyclic", _cyclic, "or refers to itself", Path.is_file),
]

# What a start does with the file, in a process whose memory and time are bounded: reading
# /dev/zero to its end would exhaust any.
_START = """
import asyncio, json, logging, sys
from pathlib import Path
from bot.telegram.persistence import StateFile
logging.basicConfig(format="%(levelname)s %(message)s")
state = StateFile(Path(sys.argv[1]))
print(json.dumps([asyncio.run(state.get_chat_data()), asyncio.run(state.get_callback_data())]))
"""
MEMORY_LIMIT = 2 * 2**30


@pytest.mark.parametrize(("kind", "make", "reason", "kept"), NOT_STATE)
def test_a_state_file_that_is_no_state_is_set_aside_unread(tmp_path, kind, make, reason, kept):
    path = make(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", _START, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == [{}, None]  # empty state: the bot starts afresh
    [warning] = result.stderr.splitlines()
    assert warning.startswith(f"WARNING the state file {path} is damaged (") and reason in warning
    assert "; set aside as state.pickle.damaged-" in warning
    [aside] = tmp_path.glob("state.pickle.damaged-*")
    assert not os.path.lexists(path) and kept(aside)  # moved as it was, link or pipe


@pytest.mark.timeout(120)  # a FIFO opened for reading would block the start forever
@pytest.mark.parametrize(
    ("kind", "make", "reason", "kept"), [case for case in NOT_STATE if case[0] != "device"]
)
def test_the_bot_starts_afresh_beside_a_state_file_that_is_no_state(
    engine, tmp_path, caplog, kind, make, reason, kept
):
    """As above, through the real bot (/dev/zero only above: read by mistake here, it would
    take the memory of the process running the tests)."""
    path = make(tmp_path)

    async def scenario():
        async with FakeTelegram() as server:
            async with polling(server, engine, state_file=str(path)):
                reply = await server.reply_to(server.message(AMBASSADOR))
                assert "Cheng Yonghua" in reply["text"]
            assert list(decode(path.read_bytes())[0]) == [USER["id"]]  # a fresh file since

    run(scenario())
    warnings = [r.getMessage() for r in bot_warnings(caplog)]
    assert len(warnings) == 1 and "is damaged" in warnings[0] and reason in warnings[0], warnings
    [aside] = tmp_path.glob("state.pickle.damaged-*")
    assert kept(aside)


def _folder(tmp: Path) -> Path:
    (tmp / "state.pickle").mkdir()
    return tmp / "state.pickle"


def _null(tmp: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("making a device node takes root")
    os.mknod(tmp / "state.pickle", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's
    return tmp / "state.pickle"


@pytest.mark.parametrize("make", [_folder, _null])
def test_a_device_or_folder_named_as_the_state_file_is_left_where_it_is(tmp_path, caplog, make):
    """`state_file: /dev/null` run as root must not move /dev/null aside, nor write a
    file in its place; a folder is not moved either."""
    path = make(tmp_path)
    before = path.lstat()
    state = persistence.StateFile(path)
    assert asyncio.run(state.get_chat_data()) == {}
    assert asyncio.run(state.get_callback_data()) is None
    assert not state._encode_and_write({USER["id"]: {CHAT_STATE: ChatState()}}, None)
    after = path.lstat()
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert [p.name for p in tmp_path.iterdir()] == ["state.pickle"]
    warnings = [r.getMessage() for r in bot_warnings(caplog)]
    assert len(warnings) == 2 and "cannot write the state file" in warnings[1], warnings


def _holds_chat(path: Path, chat_id: int) -> bool:
    try:
        return chat_id in decode(path.read_bytes())[0]
    except (OSError, StateError):
        return False


def test_a_state_over_the_bound_is_not_written_over_the_last_that_fits(
    engine, tmp_path, caplog, monkeypatch
):
    """A state the next start would set aside is not written: the file keeps the last one
    that fits, and one warning says what to do."""
    monkeypatch.setattr(persistence, "SAVE_EVERY", 0.1)
    path = tmp_path / "state.pickle"

    async def scenario():
        async with FakeTelegram() as server, polling(server, engine, state_file=str(path)):
            await server.reply_to(server.message(NAKANO))
            # A save can come between the reply and the chat's data (the buttons first):
            # the bound is set just above the first file that holds the chat.
            await eventually(lambda: _holds_chat(path, USER["id"]))
            monkeypatch.setattr(persistence, "MAX_STATE_BYTES", path.stat().st_size + 100)
            for user in (OTHER_USER, THIRD):
                await server.reply_to(server.message(NAKANO, user=user))

    run(scenario())
    assert list(decode(path.read_bytes())[0]) == [USER["id"]]
    warnings = [r.getMessage() for r in bot_warnings(caplog)]
    assert len(warnings) == 1 and "lower telegram.chats_kept" in warnings[0], warnings


# --- bounded -------------------------------------------------------------------------------


def test_chats_kept_holds_across_restarts(engine, tmp_path):
    """The least recently active chats are forgotten first, in the file too, and the order
    survives a restart; a lower bound at the start trims what was kept."""
    path = str(tmp_path / "state.pickle")

    async def scenario():
        async with FakeTelegram() as server:
            async with polling(server, engine, state_file=path, chats_kept=2) as app:
                for user in (USER, OTHER_USER, THIRD):
                    await server.reply_to(server.message(NAKANO, user=user))
                assert set(app.chat_data) == {OTHER_USER["id"], THIRD["id"]}
            assert set(decode(Path(path).read_bytes())[0]) == {OTHER_USER["id"], THIRD["id"]}

            async with polling(server, engine, state_file=path, chats_kept=2) as app:
                assert questions_kept(app, OTHER_USER["id"]) == [NAKANO]
                await server.reply_to(server.message(NAKANO, user=FOURTH))
                # OTHER_USER was active before THIRD, before the restart: forgotten first.
                assert set(app.chat_data) == {THIRD["id"], FOURTH["id"]}
            assert set(decode(Path(path).read_bytes())[0]) == {THIRD["id"], FOURTH["id"]}

            async with polling(server, engine, state_file=path, chats_kept=1) as app:
                assert set(app.chat_data) == {FOURTH["id"]}
            assert set(decode(Path(path).read_bytes())[0]) == {FOURTH["id"]}

    run(scenario())


def test_chatter_without_a_conversation_is_neither_written_nor_kept(engine, tmp_path, monkeypatch):
    """PTB's persistence makes an empty chat_data entry for every chat that sent anything:
    those are not written, and are swept from memory past twice chats_kept."""
    monkeypatch.setattr(persistence, "SAVE_EVERY", 0.1)
    path = tmp_path / "state.pickle"

    async def scenario():
        async with FakeTelegram() as server:
            async with polling(server, engine, state_file=str(path), chats_kept=1) as app:
                for user in (USER, THIRD, FOURTH):
                    help_ = server.message("/help", user=user, entities=[_command("/help")])
                    await server.reply_to(help_)
                await eventually(lambda: len(app.chat_data) == 3)  # PTB's empty entries
                await server.reply_to(server.message(NAKANO, user=OTHER_USER))
                assert set(app.chat_data) == {OTHER_USER["id"]}
            assert list(decode(path.read_bytes())[0]) == [OTHER_USER["id"]]

    run(scenario())


def _command(text: str) -> dict:
    return {"type": "bot_command", "offset": 0, "length": len(text)}


def test_a_state_that_cannot_be_pickled_is_warned_about_not_fatal(engine, tmp_path, caplog):
    path = tmp_path / "state.pickle"

    async def scenario():
        async with FakeTelegram() as server, polling(server, engine, state_file=str(path)) as app:
            await server.reply_to(server.message(NAKANO))
            # A bug that puts something other than plain data into a chat's state:
            app.chat_data[USER["id"]][CHAT_STATE].talk.document = lambda: "copied, not pickled"

    run(scenario())  # the stop went through
    warnings = [r.getMessage() for r in bot_warnings(caplog)]
    assert len(warnings) == 1 and "cannot save the bot's state" in warnings[0], warnings
    assert not list(tmp_path.glob(".state.pickle.*"))  # no temporary file left behind
