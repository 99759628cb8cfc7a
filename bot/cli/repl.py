"""The conversation loop behind `qabot repl`: interactive on a terminal, line by line on a pipe.

What the user types (and what documents hold) is printed as Rich Text (safe.styled), never
as markup: `:[/]` is an unknown command, not a markup error that ends the session,
`[link=…]` is shown, not made a hyperlink, and `:smile:` is not made an emoji."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import DEMO_HINT
from bot.cli.render import answer_json, render_answer, render_explain, render_passage
from bot.cli.safe import json_safe, styled
from bot.core.errors import QuestionError

if TYPE_CHECKING:
    from rich.console import Console

    from bot.service import Conversation, QAService

HELP = """Ask anything about the document; follow-up questions use the conversation so far.
  :sources N   show passage N of the last answer in full
  :explain     the passages found for the last question, their scores, and why it answered
  :doc NAME    search only document NAME (:doc alone: every document)
  :docs        list the documents in the index
  :reset       forget the conversation
  :help        this help
  :quit        leave (Ctrl-D works too)"""


def piped(service: QAService, lines: Iterable[str], console: Console, as_json: bool) -> None:
    conversation = service.conversation()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith(":"):
            # JSON mode prints only answers, one object a line; it still honours :reset.
            if as_json:
                if line == ":reset":
                    conversation.reset()
                continue
            if not _command(line, conversation, console):
                break
            console.print()
            continue
        try:
            answer = conversation.ask(line)
        except QuestionError as exc:  # a line that is no question: say so, go on
            if as_json:
                print(json_safe(json.dumps({"question": line, "error": str(exc)})), flush=True)
            else:
                console.print(styled(str(exc), style="red"))
            continue
        if as_json:
            print(answer_json(answer), flush=True)
        else:
            console.print(styled(f"? {line}", style="bold"))
            render_answer(console, answer)
            console.print()


def _history_file() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "qabot" / "history"


def interactive(service: QAService, console: Console) -> None:
    import readline

    history = _history_file()
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(history)
    except OSError:
        pass
    readline.set_history_length(1000)

    conversation = service.conversation()
    names = banner_names([s.name or s.doc_id for s in service.manifest.sources])
    console.print(
        styled(
            ("qabot", "bold"),
            " — ask about ",
            (names, "green"),
            f" ({service.manifest.chunk_count} passages). :help for commands, Ctrl-D to leave.",
        )
    )
    if service.demo_only:
        console.print(styled(f"This is {DEMO_HINT}", style="dim"))
    try:
        while True:
            try:
                line = input("? ").strip()
            except KeyboardInterrupt:  # as in Python's and psql's prompts: the line goes
                console.print()
                continue
            except EOFError:
                console.print()
                break
            if not line:
                continue
            if line.startswith(":"):
                if not _command(line, conversation, console):
                    break
                continue
            try:
                render_answer(console, conversation.ask(line))
            except QuestionError as exc:
                console.print(styled(str(exc), style="red"))
            console.print()
    finally:
        with contextlib.suppress(OSError):
            readline.write_history_file(history)


# The banner names this many documents at most; :docs lists them all.
BANNER_DOCUMENTS = 5


def banner_names(names: list[str]) -> str:
    """The documents a session answers from, as the banner says it: a few by name, then how
    many more (a hundred names would push the prompt off the screen)."""
    shown = ", ".join(names[:BANNER_DOCUMENTS])
    more = len(names) - BANNER_DOCUMENTS
    return f"{shown} and {more} more (:docs)" if more > 0 else shown


def _command(line: str, conversation: Conversation, console: Console) -> bool:
    """Run a :command; False means leave."""
    name, _, arg = line.partition(" ")
    if name in (":quit", ":q", ":exit"):
        return False
    if name == ":help":
        console.print(styled(HELP))
    elif name == ":explain":
        if conversation.last is None:
            console.print(styled(("Ask a question first.", "dim")))
        else:
            render_explain(console, conversation.last)
    elif name == ":reset":
        conversation.reset()
        console.print(styled(("Conversation forgotten.", "dim")))
    elif name == ":doc":
        try:
            conversation.limit_to(arg.strip() or None)
        except QuestionError as exc:
            console.print(styled(str(exc), style="red"))
            return True
        where = conversation.document or "every document"
        console.print(styled(f"Searching {where}.", style="dim"))
    elif name == ":docs":
        for info in conversation.service.documents():
            console.print(styled(f"  {info.name or info.doc_id}", style="green"), styled(info.path))
    elif name == ":sources":
        last = conversation.last
        if last is None or not last.citations:
            console.print(styled(("The last answer cited no passages.", "dim")))
            return True
        try:
            wanted = int(arg)
            citation = next(c for c in last.citations if c.n == wanted)
        except (ValueError, StopIteration):
            numbers = ", ".join(str(c.n) for c in last.citations)
            console.print(styled((f"Usage: :sources N, where N is one of {numbers}.", "red")))
            return True
        render_passage(console, citation)
    else:
        console.print(styled(f"Unknown command {name}; :help lists them.", style="red"))
    return True
