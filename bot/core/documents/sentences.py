"""Splitting prose into sentences: rules that know abbreviations, initials and section
numbers. Offsets stay absolute, so a sentence is always `text[start:end]` of its document."""

from __future__ import annotations

import re

from bot.core.language import ABBREVIATIONS

_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside text[start:end], trimmed of white space.

    Rule-based, in the spirit of Punkt: a stop followed by a capital starts a sentence,
    unless the word before it is a known abbreviation, an initial or a section number.
    """
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        before = text[cursor : match.start()].split()
        last = before[-1].lower().rstrip(".") if before else ""
        last = last.lstrip("\"'“‘([")
        if match.group().startswith(".") and (
            last in ABBREVIATIONS
            or (len(last) == 1 and last.isalpha())
            or re.fullmatch(r"[\divxlc]+(?:\.[\divx]+)*", last)
        ):
            continue
        spans.append((cursor, match.end()))
        cursor = match.end()
    spans.append((cursor, end))
    trimmed = []
    for s, e in spans:
        piece = text[s:e]
        s2 = s + len(piece) - len(piece.lstrip())
        e2 = s + len(piece.rstrip())
        if s2 < e2:
            trimmed.append((s2, e2))
    return trimmed
