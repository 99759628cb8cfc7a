"""The interactive REPL in a real process on a real terminal (a pty), typed at as a person
types: what is typed prints as typed, Ctrl-C clears a half-typed line and keeps the session
(as Python's and psql's prompts do), Ctrl-D leaves, and the banner says what it answers from."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time

import pytest

from tests.cli.test_cli import MARKUP_LINES

AMBASSADOR = "Who is China's ambassador to Japan?"


def _as_on_a_real_terminal() -> None:
    """In the child: the pty as its controlling terminal, so Ctrl-C is a SIGINT as on a real
    one, and SIGINT handled (a job a non-interactive shell puts in the background, as CI may
    run the tests, starts with it ignored, and Python then leaves it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`qabot ARGS` on a pseudo-terminal: write keys, read up to the next prompt."""

    def __init__(self, *args: str):
        master, slave = os.openpty()
        env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=_as_on_a_real_terminal,
        )
        os.close(slave)
        self.master, self.seen = master, bytearray()

    def until_prompt(self, timeout: float = 120, shown: bytes = b"? ") -> str:
        """What came up to the next prompt (or up to `shown`, such as a typed line's echo)."""
        start, deadline = len(self.seen), time.monotonic() + timeout
        while time.monotonic() < deadline:
            plain = re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]|\r", b"", bytes(self.seen[start:]))
            if plain.endswith(shown):
                return plain.decode("utf-8", "replace")
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    self.seen.extend(os.read(self.master, 65536))
                except OSError:  # the process is gone
                    break
        raise AssertionError(f"no prompt; so far: {bytes(self.seen)!r}")

    def type(self, keys: str) -> None:
        """Type once readline reads key by key: keys typed before it takes the terminal out of
        line mode are flushed when it does (on a busy machine the prompt can come first)."""
        deadline = time.monotonic() + 30
        while termios.tcgetattr(self.master)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "readline never took the terminal"
            time.sleep(0.05)
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def interrupt(repl: Terminal) -> None:
    """Ctrl-C, and the prompt it brings back. CPython's readline sees a SIGINT only when it
    interrupts its wait for a key: one that lands while it is drawing the last key is
    noticed at the next Ctrl-C (a person presses again), so a second one is sent then."""
    repl.type("\x03")
    try:
        repl.until_prompt(timeout=3)
    except AssertionError:
        repl.type("\x03")
        repl.until_prompt(timeout=30)


@pytest.fixture
def terminal(index_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the REPL's history file
    opened: list[Terminal] = []

    def start(*args: str) -> Terminal:
        opened.append(Terminal(*args))
        return opened[-1]

    yield start
    for t in opened:
        t.close()


def test_what_is_typed_prints_as_typed_never_markup(terminal):
    """The same lines print as typed (no OSC 8 hyperlink reaches the terminal) and the
    session goes on to answer the next question."""
    repl = terminal("repl")
    repl.until_prompt()
    said = []
    for line in [*MARKUP_LINES, AMBASSADOR]:
        repl.type(line + "\r")
        said.append(repl.until_prompt())
    repl.type("\x04")  # Ctrl-D leaves
    assert repl.proc.wait(timeout=60) == 0
    assert "Unknown command :[/]; :help lists them." in said[0]
    assert "Unknown command :[link=https://example.com]x; :help lists them." in said[1]
    assert "[bold]nope:smile:" in said[2]
    assert "Cheng Yonghua" in said[3]
    assert b"\x1b]8;" not in repl.seen  # no hyperlink
    assert b"Traceback" not in repl.seen and b"unexpected" not in repl.seen


def test_ctrl_c_clears_the_line_and_keeps_the_session(terminal):
    repl = terminal("repl")
    banner = repl.until_prompt()
    assert "article.txt" in banner and "This is the bundled demo article" in banner
    repl.type("How do I bake sour")  # half typed, then thought better of
    repl.until_prompt(timeout=30, shown=b"sour")  # readline has it
    interrupt(repl)
    assert repl.proc.poll() is None  # still there
    repl.type(AMBASSADOR + "\r")
    answer = repl.until_prompt()
    assert "Cheng Yonghua" in answer and "sour" not in answer  # the cleared line is gone
    interrupt(repl)  # on an empty line too: still there
    assert repl.proc.poll() is None
    repl.type(":quit\r")
    assert repl.proc.wait(timeout=60) == 0
    assert b"Traceback" not in repl.seen and b"KeyboardInterrupt" not in repl.seen
