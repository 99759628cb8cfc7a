"""How answers and sources look in a terminal (Rich); shared by `ask` and `repl`."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from bot.cli.safe import json_safe, styled
from bot.core.types import normalize_space

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from bot.core.types import Answer, Citation

_MARKER = re.compile(r"\[(\d+)\]")


def preview(text: str, width: int = 90) -> str:
    flat = normalize_space(text)
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def render_answer(console: Console, answer: Answer) -> None:
    if answer.abstained:
        console.print(styled((answer.text, "bold")))
        console.print(styled("(", answer.reason, ")", style="dim"))
        for c in answer.closest:  # offered as what came closest, never as an answer
            parts = ("Closest passage, not an answer: ", c.label, ": ", preview(c.text))
            console.print(styled(*parts, style="dim"))
        return
    text = marked(answer)
    # Markers found in the text itself: one the span's edge cuts is coloured too (the markup
    # could not see through the span's tags).
    text.highlight_regex(_MARKER, "bold cyan")
    console.print(text)
    console.print()
    console.print(styled(("Sources", "bold")))
    for c in answer.citations:
        render_source_line(console, c)


def marked(answer: Answer) -> Text:
    """The answer's text, the reader's span in it emphasised (offsets into the text as it
    is: each piece is made printable apart, so removing a sequence shifts nothing)."""
    if answer.span is None:
        return styled(answer.text)
    s, e = answer.span.marked
    text = answer.text
    return styled(text[:s], (text[s:e], "bold underline"), text[e:])


def render_source_line(console: Console, c: Citation) -> None:
    console.print(
        styled(
            "  ",
            (f"[{c.n}]", "bold cyan"),
            " ",
            (c.label, "green"),
            " ",
            (f"({c.score:.2f})", "dim"),
            " ",
            preview(c.text),
        )
    )


def render_passage(console: Console, c: Citation) -> None:
    console.print(
        styled(
            (f"[{c.n}]", "bold cyan"),
            " ",
            (c.label, "green"),
            " ",
            (f"chars {c.start}-{c.end}, id {c.chunk_id}", "dim"),
        )
    )
    console.print(styled(c.text), soft_wrap=False)


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
        console.print(styled(("searched:", "dim"), " ", answer.query))
    wanted = answer.expected.kind or "anything"
    focus = f", about '{' '.join(answer.expected.focus)}'" if answer.expected.focus else ""
    console.print(styled(("the question asks for:", "dim"), " ", wanted, focus))
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
            styled(r.label),
            f"{r.dense:.2f}",
            f"{r.lexical:.2f}",
            f"{r.fused:.3f}",
            f"{r.best_sentence_score:.2f}",
            styled(preview(r.best_sentence, 70)),
        )
    console.print(table)
    verdict = "abstained" if answer.abstained else "answered"
    console.print(styled((f"{verdict}:", "bold"), " ", answer.reason))
