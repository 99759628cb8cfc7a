"""How answers, sources and progress look in a terminal (Rich); shared by `ask` and `repl`."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from bot.documents import normalize_space

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgressBar

    from bot.answering import Answer, Citation

_MARKER = re.compile(r"\[(\d+)\]")


def para_label(paragraphs: tuple[int, ...]) -> str:
    first, last = paragraphs[0], paragraphs[-1]
    return f"¶{first}" if first == last else f"¶{first}-{last}"


def preview(text: str, width: int = 90) -> str:
    flat = normalize_space(text)
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def render_answer(console: Console, answer: Answer) -> None:
    if answer.abstained:
        console.print(f"[bold]{escape(answer.text)}[/]")
        console.print(
            f"[dim](best match scored {answer.score:.2f}; {answer.threshold:.2f} is needed to "
            "answer)[/]"
        )
        return
    console.print(_MARKER.sub(r"[bold cyan]\g<0>[/]", escape(answer.text)), highlight=False)
    console.print()
    console.print("[bold]Sources[/]")
    for c in answer.citations:
        render_source_line(console, c)


def render_source_line(console: Console, c: Citation) -> None:
    console.print(
        f"  [bold cyan]\\[{c.n}][/] [green]{c.doc_id} {para_label(c.paragraphs)}[/] "
        f"[dim]({c.score:.2f})[/] {escape(preview(c.text))}",
        highlight=False,
    )


def render_passage(console: Console, c: Citation) -> None:
    console.print(
        f"[bold cyan]\\[{c.n}][/] [green]{c.doc_id} {para_label(c.paragraphs)}[/] "
        f"[dim]chars {c.start}-{c.end}, id {c.chunk_id}[/]",
        highlight=False,
    )
    console.print(escape(c.text), highlight=False, soft_wrap=False)


def answer_json(answer: Answer) -> str:
    return json.dumps(answer.to_dict(), ensure_ascii=False)


class BuildProgress:
    """A progress bar on a terminal; on a pipe, nothing (the caller prints a summary)."""

    def __init__(self, console: Console):
        self.console = console
        self.bar: RichProgressBar | None = None
        self.task = None

    def start(self, total: int, description: str) -> None:
        if not self.console.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
