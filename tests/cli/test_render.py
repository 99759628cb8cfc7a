"""What the CLI prints of answers, citations, file names and questions is that text, as it
is: built as Rich Text, never parsed as markup, so `[bold]`, `[/]`, `[link=…]`, backslashes
and `:smile:` show literally (markup strings once turned `:smile:` into an emoji and died on
`\\[1]`), and the styles are the ones the markup gave."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli import repl
from bot.cli.render import preview, render_answer, render_explain, render_passage
from bot.cli.report import render_report, render_table
from bot.cli.safe import SafeConsole, styled
from bot.core.errors import QuestionError
from bot.core.types import NO_EXPECTATION, Answer, Citation, Expectation, Retrieved, Span
from bot.tools.evaluation import Outcome, Report
from bot.tools.qaset import Item, QASet
from tests.conftest import run_cli

TRICKS = [
    "[",
    "]",
    "[bold]",
    "[/]",
    "[/bold]",
    "[link=x]",
    "[link=https://evil.example]x[/link]",
    "[@click=app.quit]",
    "[#ff0000 on red]",
    "\\",
    "\\[bold]",
    "[bold]\\",
    ":smile:",
    ":thumbs_up:",
    ":red_heart-emoji:",
    "[1]",
    "\\[1]",
]
# Text a terminal shows as it is: no controls (safe.printable drops them, tested apart), no
# line breaks or tabs (Rich lays those out), no bidi overrides.
BIDI = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
ordinary = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters=BIDI),
    max_size=12,
)
words = st.lists(st.one_of(st.sampled_from(TRICKS), ordinary), min_size=1, max_size=6).map("".join)
# Wide enough that nothing wraps: what is printed is then each text on one line.
WIDTH = 10_000


def console() -> Console:
    return SafeConsole(file=io.StringIO(), force_terminal=False, width=WIDTH, soft_wrap=True)


def printed(console: Console) -> str:
    return console.file.getvalue()


def citation(n: int, text: str, name: str) -> Citation:
    return Citation(n, f"{name}#p{n}", "doc", (n, n + 1), 0, len(text), 0.5, text, name)


def answer(text: str, citations: tuple[Citation, ...], **more: object) -> Answer:
    fields: dict = {
        "question": "q",
        "text": text,
        "citations": citations,
        "abstained": False,
        "timings_ms": {"total": 1.0},
        "query": "q",
        "expected": NO_EXPECTATION,
        "score": 0.5,
        "threshold": 0.32,
    }
    return Answer(**(fields | more))


def assert_shown(out: str, *texts: str) -> None:
    for text in texts:
        assert text in out, (text, out)
        if ":smile:" in text:  # Text is not searched for emoji codes; markup was
            assert "😄" in text or "😄" not in out


@settings(max_examples=150, deadline=None)
@given(text=words, passage=words, name=words, reason=words, query=words, cut=st.integers(0, 99))
# The markup once made this an emoji, and `\\[1]` (the marker's markup escaped) a crash.
@example(
    text=":smile: \\[1] [bold]x[/]",
    passage="[/]",
    name="a:smile:b.txt",
    reason="[",
    query="\\",
    cut=8,
)
def test_answers_and_citations_print_literally(text, passage, name, reason, query, cut):
    s = min(cut, len(text))
    e = min(s + 3, len(text))
    cited = (citation(1, passage, name), citation(2, text, "b.txt"))
    # The explain table names a passage as its citation does.
    found = tuple(
        Retrieved(f"{c.doc_id}#p{c.n}", c.paragraphs, c.label, 0.1, 0.2, 0.3, c.text, 0.4)
        for c in cited
    )
    given_answer = answer(
        text,
        cited,
        span=Span(0, 1, text[s:e], (s, e)),
        reason=reason,
        query=query,
        question="other",
        expected=Expectation("date", (query,)),
        retrieved=found,
    )
    out = console()
    render_answer(out, given_answer)
    render_explain(out, given_answer)
    render_passage(out, cited[0])
    # Table cells lose trailing blanks (Rich pads its columns itself).
    cells = [cited[0].label.rstrip(), preview(passage, 70).rstrip()]
    assert_shown(printed(out), text, reason, query, name, preview(passage), passage, *cells)

    out = console()
    render_answer(out, answer(text, (), abstained=True, reason=reason, closest=cited))
    label = f"Closest passage, not an answer: {cited[0].label}: {preview(passage)}"
    assert_shown(printed(out), text, f"({reason})", label)


@settings(max_examples=100, deadline=None)
@given(question=words, answers=st.lists(words, min_size=1, max_size=3), got=words, why=words)
@example(question=":smile:?", answers=["[/]"], got="\\", why="[link=x]")
def test_eval_reports_print_questions_and_names_literally(question, answers, got, why):
    qa_set = QASet(Path(f"{question}.yaml"), Path(f"/docs/{got}.txt"), (), ())
    missed = Outcome(
        Item(question, True, tuple(answers)), answer(got, (), reason=why), 2, False, False
    )
    report = Report(qa_set, [missed])
    out = console()
    render_report(out, report)
    render_table(out, f"{qa_set.path} ({qa_set.document.name})", [(question, report)])
    shown = [str(qa_set.path), qa_set.document.name, question, " | ".join(answers)]
    assert_shown(printed(out), *shown, preview(got, 110), why)


class _Service:
    """What repl.piped needs of a service: conversations that answer each line with its own
    text and call a line that starts with 'bad' no question."""

    def conversation(self) -> _Service:
        return self

    def ask(self, line: str) -> Answer:
        if line.startswith("bad"):
            raise QuestionError(f"not a question: {line}")
        return answer(f"you asked {line}", ())


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(words.map(lambda w: f"Q {w}".strip()), min_size=1, max_size=4))
@example(lines=["Q [/]", "Q :smile:", "Q [link=https://evil.example]x"])
def test_the_repl_echoes_questions_literally(lines):
    out = console()
    repl.piped(_Service(), [*lines, "bad [/] :smile:"], out, as_json=False)
    shown = printed(out)
    assert_shown(shown, *(f"? {line}" for line in lines), "not a question: bad [/] :smile:")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Names short enough that the table (160 columns on a pipe) shows them whole.
@given(name=words.filter(lambda name: cell_len(name) <= 24), reason=words)
@example(name="[bold]notes:smile:.txt", reason="[/] unreadable")
def test_index_list_prints_file_names_literally(capsys, monkeypatch, name, reason):
    from types import SimpleNamespace

    import bot.service
    from bot.core.types import SourceInfo

    source = SourceInfo(f"/docs/{name}", "d1", "ab" * 32, 10, 3, name=name, paragraphs=2)
    manifest = SimpleNamespace(sources=[source], built_at="2024-01-01T10:00", skipped={"x": reason})
    monkeypatch.setattr(bot.service, "status", lambda _settings: SimpleNamespace(manifest=manifest))
    code, out, err = run_cli(capsys, "index", "list")
    assert code == 0, err
    assert_shown(out, name.rstrip(), f"/docs/{name}".rstrip(), f"left out: {reason}")


def test_the_styles_are_the_ones_the_markup_gave():
    """The reader's span bold and underlined, citation markers bold cyan, labels green,
    scores and hints dim (ANSI codes on a terminal)."""
    cited = (citation(1, "The ferry leaves at 7:15.", "notes.txt"),)
    text = "It leaves at 7:15 [1]."
    out = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=200)
    render_answer(out, answer(text, cited, span=Span(0, 1, "7:15", (13, 17))))
    shown = printed(out)
    assert "It leaves at \x1b[1;4m7:15\x1b[0m \x1b[1;36m[1]\x1b[0m." in shown
    assert "\x1b[1mSources\x1b[0m" in shown
    assert "  \x1b[1;36m[1]\x1b[0m \x1b[32mnotes.txt ¶1-2\x1b[0m \x1b[2m(0.50)\x1b[0m The" in shown

    out = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=200)
    render_answer(out, answer("No.", (), abstained=True, reason="why", closest=cited))
    shown = printed(out)
    assert "\x1b[1mNo.\x1b[0m\n\x1b[2m(why)\x1b[0m\n" in shown
    assert "\x1b[2mClosest passage, not an answer: notes.txt ¶1-2: The ferry" in shown


@pytest.mark.parametrize(
    "renderable",
    [
        Text("a\x1b]0;pwned\x1b\\b\x1b[2Jc\u202ed"),  # a Text made without styled
        styled("a\x1b]0;pwned\x1b\\b\x1b[2Jc\u202ed"),
    ],
)
def test_text_is_made_printable_however_it_was_made(renderable):
    out = SafeConsole(file=io.StringIO(), force_terminal=True, width=80)
    table = Table()
    table.add_column("cell")
    table.add_row(renderable.copy())
    out.print(renderable, table)
    shown = printed(out)
    assert "\x1b]0;" not in shown and "\x1b[2J" not in shown and "\u202e" not in shown
    assert "abcd" in shown


def test_the_build_progress_bar_labels_its_times():
    import io

    from rich.console import Console

    from bot.cli.progress import BuildProgress

    out = io.StringIO()
    progress = BuildProgress(Console(file=out, force_terminal=True, width=120))
    progress.start(10, "embedding passages")
    for _ in range(10):
        progress.advance(1)
    progress.bar.refresh()
    shown = out.getvalue()
    progress.close()
    assert "embedding passages" in shown and "10/10" in shown
    assert "elapsed," in shown and "left" in shown
    quiet = io.StringIO()  # on a pipe, no bar at all
    BuildProgress(Console(file=quiet, force_terminal=False)).start(10, "embedding passages")
    assert quiet.getvalue() == ""
