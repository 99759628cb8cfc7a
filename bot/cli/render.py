"""How answers and sources look in a terminal (Rich); shared by `ask` and `repl`."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from rich.console import Console

from bot.cli.safe import escape, json_safe
from bot.core.types import normalize_space, paragraph_locator

if TYPE_CHECKING:
    from bot.core.types import Answer, Citation

_MARKER = re.compile(r"\[(\d+)\]")


def preview(text: str, width: int = 90) -> str:
    flat = normalize_space(text)
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def render_answer(console: Console, answer: Answer) -> None:
    if answer.abstained:
        console.print(f"[bold]{escape(answer.text)}[/]")
        console.print(f"[dim]({escape(answer.reason)})[/]")
        for c in answer.closest:  # offered as what came closest, never as an answer
            console.print(
                f"[dim]Closest passage, not an answer: {escape(c.label)}: "
                f"{escape(preview(c.text))}[/]",
                highlight=False,
            )
        return
    console.print(_MARKER.sub(r"[bold cyan]\g<0>[/]", marked(answer)), highlight=False)
    console.print()
    console.print("[bold]Sources[/]")
    for c in answer.citations:
        render_source_line(console, c)


def marked(answer: Answer) -> str:
    """The answer's text as Rich markup, the reader's span in it emphasised."""
    if answer.span is None:
        return escape(answer.text)
    s, e = answer.span.marked
    text = answer.text
    return f"{escape(text[:s])}[bold underline]{escape(text[s:e])}[/]{escape(text[e:])}"


def render_source_line(console: Console, c: Citation) -> None:
    console.print(
        f"  [bold cyan]\\[{c.n}][/] [green]{escape(c.label)}[/] "
        f"[dim]({c.score:.2f})[/] {escape(preview(c.text))}",
        highlight=False,
    )


def render_passage(console: Console, c: Citation) -> None:
    console.print(
        f"[bold cyan]\\[{c.n}][/] [green]{escape(c.label)}[/] "
        f"[dim]chars {c.start}-{c.end}, id {c.chunk_id}[/]",
        highlight=False,
    )
    console.print(escape(c.text), highlight=False, soft_wrap=False)


def answer_json(answer: Answer, explain: bool = False) -> str:
    data = answer.to_dict()
    if explain:
        data["explain"] = explain_dict(answer)
    return json_safe(json.dumps(data, ensure_ascii=False))


def explain_dict(answer: Answer) -> dict:
    return {
        "query": answer.query,
        "expects": answer.expected.kind,
        "focus": " ".join(answer.expected.focus) or None,
        "score": round(answer.score, 4),
        "threshold": answer.threshold,
        "reason": answer.reason,
        "retrieved": [
            {
                "chunk_id": r.chunk_id,
                "paragraphs": list(r.paragraphs),
                "dense": round(r.dense, 4),
                "lexical": round(r.lexical, 4),
                "fused": round(r.fused, 4),
                "best_sentence_score": round(r.best_sentence_score, 4),
                "best_sentence": r.best_sentence,
            }
            for r in answer.retrieved
        ],
    }


def render_explain(console: Console, answer: Answer) -> None:
    """Why the bot answered or abstained: what it searched, what it found, how it scored."""
    from rich.table import Table

    if answer.query != answer.question:
        console.print(f"[dim]searched:[/] {escape(answer.query)}")
    wanted = answer.expected.kind or "anything"
    focus = f", about '{' '.join(answer.expected.focus)}'" if answer.expected.focus else ""
    console.print(f"[dim]the question asks for:[/] {wanted}{escape(focus)}")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (
        ("#", "right"),
        ("passage", "left"),
        ("dense", "right"),
        ("bm25", "right"),
        ("rrf", "right"),
        ("best", "right"),
        ("best sentence", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "best sentence")
    for rank, r in enumerate(answer.retrieved, start=1):
        table.add_row(
            str(rank),
            escape(f"{r.chunk_id.split('#')[0]} {paragraph_locator(r.paragraphs)}"),
            f"{r.dense:.2f}",
            f"{r.lexical:.2f}",
            f"{r.fused:.3f}",
            f"{r.best_sentence_score:.2f}",
            escape(preview(r.best_sentence, 70)),
        )
    console.print(table)
    verdict = "abstained" if answer.abstained else "answered"
    console.print(f"[bold]{verdict}:[/] {escape(answer.reason)}")
