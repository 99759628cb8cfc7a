"""Nothing a terminal would act on reaches it: control sequences in documents, file names
and questions are dropped from what is printed and escaped in JSON; Rich markup in a
question is text; a question that is not UTF-8 is answered, not a crash."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.cli.safe import json_safe, printable
from tests.conftest import run_cli

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
ATTACKS = [
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b]0;pwned\x07",  # set the window title
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",  # a hyperlink
    "\x9b31m",  # C1 CSI
    "\u202etxt.exe",  # right-to-left override
    "[/]",
    "[link=https://evil.example]x[/link]",
    "[bold red]",
]
pieces = st.one_of(st.sampled_from(ATTACKS), st.text(max_size=20))


@given(st.lists(pieces, max_size=8).map("".join))
def test_printable_leaves_nothing_a_terminal_acts_on(text):
    clean = printable(text)
    assert not UNSAFE.search(clean) and printable(clean) == clean


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=50))
def test_printable_keeps_ordinary_text(text):
    if not re.search("[\u202a-\u202e\u2066-\u2069]", text):
        assert printable(text) == text


@given(st.lists(pieces, max_size=8).map("".join))
def test_json_stays_exact_and_harmless(text):
    encoded = json_safe(json.dumps({"t": text}, ensure_ascii=False))
    assert json.loads(encoded)["t"] == text and not UNSAFE.search(encoded)


@pytest.fixture
def hostile_index(tmp_path, monkeypatch):
    """An index of a document whose text and file name hold escape sequences."""
    name = "notes\x1b]0;pwned\x07.txt"
    (tmp_path / name).write_text(
        "# Harbour\x1b[2J\n\nThe ferry leaves the harbour at 7:15 every morning. It returns "
        "\u202eat noon\x1b]0;x\x07 with the mail\x9b31m and the papers.\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("QABOT_INDEX_DIR", str(tmp_path / "index"))
    return tmp_path / name


def test_documents_and_names_print_harmlessly(capsys, hostile_index):
    code, out, err = run_cli(capsys, "index", "add", str(hostile_index))
    assert code == 0, err
    outputs = [out + err]
    for args in (
        ["ask", "Where does the ferry leave from?"],
        ["ask", "--explain", "Where does the ferry leave from?"],
        ["index", "list"],
        ["index", "status"],
    ):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        outputs.append(out + err)
    assert "7:15" in outputs[1] and "notes" in outputs[3]
    for text in outputs:
        assert not UNSAFE.search(text), repr(text)
    code, out, err = run_cli(capsys, "ask", "--json", "Where does the ferry leave from?")
    data = json.loads(out)
    assert "\x1b]0;x\x07" in data["citations"][0]["text"]  # the data is exact, only escaped
    assert not UNSAFE.search(out)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.lists(st.lists(pieces, min_size=1, max_size=5).map("".join), max_size=4))
# Found by this test: a string terminator (ESC \\) just before markup ate the escaping
# backslash when sequences were removed after escaping instead of before.
@example(lines=["\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\[/]"])
def test_any_line_in_the_repl_is_a_question_or_a_command(capsys, monkeypatch, engine_env, lines):
    """Piped lines of anything (markup, escapes, bytes that are not UTF-8): the REPL answers
    each, never dies, and prints nothing a terminal acts on."""
    raw = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n\xff\xfe bad bytes?\n"
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = run_cli(capsys, "repl")
    assert code == 0, err
    assert "unexpected" not in err and "Traceback" not in err
    assert not UNSAFE.search(out + err)


@pytest.fixture
def engine_env(article_index_dir, monkeypatch):
    monkeypatch.setenv("QABOT_INDEX_DIR", str(article_index_dir))


def test_a_question_that_is_not_utf8_is_answered(capsys, engine_env):
    question = b"Who is Lu Kang \xff?".decode("utf-8", "surrogateescape")  # as argv has it
    code, out, err = run_cli(capsys, "ask", question)
    assert code == 0 and "unexpected" not in err and not UNSAFE.search(out + err)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# One line each (a newline would start another); no tabs, which Rich expands to spaces.
@given(commands=st.lists(pieces.map(lambda text: ":" + re.sub("[\t\n]", " ", text)), max_size=4))
@example(commands=[":[/]", ":[link=https://evil.example]x", ":doc [/]", ":sources [/]"])
def test_any_colon_command_in_the_repl_is_run_or_named_never_markup(
    capsys, monkeypatch, engine_env, commands
):
    """A line that starts with ':' is a command, whatever follows: run, or named as unknown
    exactly as typed (brackets and all); the session goes on and answers the next question."""
    lines = [*commands, "Who is China's ambassador to Japan?"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, err = run_cli(capsys, "repl")
    assert code == 0, err
    assert "unexpected" not in err and "Traceback" not in err
    assert not UNSAFE.search(out + err)
    leaving = (":quit", ":q", ":exit")
    for command in commands:
        name = command.strip().partition(" ")[0]
        if name in leaving:
            return  # the session ended there, as asked
        known = (":help", ":explain", ":reset", ":doc", ":docs", ":sources")
        if command.strip() and name not in known:
            assert printable(f"Unknown command {name}; :help lists them.") in out
    assert "Cheng Yonghua" in out
