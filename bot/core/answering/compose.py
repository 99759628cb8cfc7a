"""Composing an answer from the chosen sentences: the text with [n] markers, one citation per
passage, and the passages found as `--explain` shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.types import Citation, Retrieved

if TYPE_CHECKING:
    from bot.core.answering.retrieval import Candidate, Hit
    from bot.core.index.passages import Index

ABSTAIN_TEXT = "The document doesn't say."


def compose(index: Index, chosen: list[Candidate]) -> tuple[str, tuple[Citation, ...]]:
    """The answer's text, with [n] markers, and its citations."""
    # One citation per passage, numbered in the order the answer first uses them; the
    # sentences of one passage keep the order they have in the document.
    by_row: dict[int, list[Candidate]] = {}
    for cand in chosen:
        by_row.setdefault(cand.row, []).append(cand)
    parts, citations = [], []
    for n, (row, group) in enumerate(by_row.items(), start=1):
        chunk = index.chunks[row]
        sentences = [index.sentence_text(row, c.k) for c in sorted(group, key=lambda c: c.k)]
        parts.append(" ".join(sentences) + f" [{n}]")
        citations.append(
            Citation(
                n=n,
                chunk_id=chunk.id,
                doc_id=chunk.doc_id,
                paragraphs=chunk.paragraphs,
                start=chunk.start,
                end=chunk.end,
                score=max(c.score for c in group),
                text=chunk.text,
                document=chunk.document,
                locator=chunk.locator,
            )
        )
    return " ".join(parts), tuple(citations)


def rerank(hits: list[Hit], candidates: list[Candidate]) -> list[Hit]:
    """Passages in the order of their best sentence: the order the answer sees them in."""
    best: dict[int, float] = {}
    for c in candidates:
        best[c.row] = max(best.get(c.row, -1.0), c.score)
    return sorted(hits, key=lambda h: best.get(h.row, -1.0), reverse=True)


def describe(index: Index, hits: list[Hit], candidates: list[Candidate]) -> tuple[Retrieved, ...]:
    """The passages found, as `--explain` shows them."""
    out = []
    for hit in hits:
        top = max((c for c in candidates if c.row == hit.row), key=lambda c: c.score)
        chunk = index.chunks[hit.row]
        out.append(
            Retrieved(
                chunk_id=chunk.id,
                paragraphs=chunk.paragraphs,
                label=chunk.label,
                fused=hit.fused,
                dense=hit.dense,
                lexical=hit.lexical,
                best_sentence=index.sentence_text(hit.row, top.k),
                best_sentence_score=top.score,
            )
        )
    return tuple(out)
