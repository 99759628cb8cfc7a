"""Cutting documents into passages (chunks) that fit the embedding model.

A chunk is one paragraph where possible: a long paragraph is split at sentence boundaries,
a very short one is merged with a neighbour in the same section. Bylines, captions and code
never enter a chunk; the heading above a chunk travels with it as context for retrieval
but is not part of the cited text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.core.documents.kinds import TAG, TAGS_ARE_TEXT
from bot.core.documents.paragraphs import ATX_HEADING, SETEXT_UNDERLINE
from bot.core.settings import ChunkerSettings
from bot.core.types import (
    Chunk,
    Document,
    Kind,
    Paragraph,
    normalize_space,
    paragraph_locator,
)

# Between the headings of a passage's heading path: "Install › Linux". Only the innermost
# PATH_DEPTH headings count: a document title over every passage says nothing about one.
HEADING_SEPARATOR = " › "
PATH_DEPTH = 3
TokenCounter = Callable[[Iterable[str]], list[int]]


@dataclass
class _Piece:
    """A run of sentences from one or more paragraphs, on its way to becoming a chunk."""

    paragraphs: list[int]
    sentences: list[tuple[int, int]]
    tokens: int
    heading: str
    section: int  # pieces merge only within a section: a heading or caption ends one
    part: int = 0  # 1, 2, ... when a long paragraph was split


def heading_label(text: str, fmt: str = "text") -> str:
    first_line = text.strip().splitlines()[0]
    if fmt not in TAGS_ARE_TEXT:  # `<summary>Mac</summary>` is a Markdown file's heading
        first_line = TAG.sub(" ", first_line)
    return normalize_space(first_line.strip("#*= \t"))


_NUMBERED = re.compile(r"\s*((?:\d+\.)*\d+)\.?\s+\S")
# A heading whose level the text does not show (a plain title line, an HTML <summary>)
# ranks below every marked one: it never ends the section a marked heading opened.
_UNMARKED = 7


@dataclass(frozen=True)
class _Heading:
    level: int
    label: str
    number: tuple[str, ...] = ()  # "3.1. Distribution" -> ("3", "1")


def _heading(text: str, fmt: str = "text") -> _Heading:
    """A heading and how deep it is: Markdown `#` count, 1 or 2 for setext underlines, one
    more than the dots of a section number ("3.1. Distribution" is 2)."""
    label = heading_label(text, fmt)
    lines = text.strip("\n").splitlines()
    if match := ATX_HEADING.match(text):
        return _Heading(len(match.group(1)), label)
    if len(lines) > 1 and (match := SETEXT_UNDERLINE.fullmatch(lines[-1])):
        return _Heading(1 if match.group(1).startswith("=") else 2, label)
    if match := _NUMBERED.match(text):
        number = tuple(match.group(1).split("."))
        return _Heading(len(number), label, number)
    return _Heading(_UNMARKED, label)


def _under(outline: list[_Heading], heading: _Heading) -> list[_Heading]:
    """The outline once `heading` is reached: it replaces its siblings and what lies below
    them; a numbered section sits only under the sections its number extends ("10.3" under
    "10", never under "7" when "10" was not recognised as a heading)."""
    kept = [h for h in outline if h.level < heading.level]
    if heading.number:
        kept = [h for h in kept if not h.number or heading.number[: len(h.number)] == h.number]
    return [*kept, heading]


def heading_path(outline: list[_Heading]) -> str:
    return HEADING_SEPARATOR.join(h.label for h in outline[-PATH_DEPTH:])


def chunk_document(
    doc: Document, count_tokens: TokenCounter, settings: ChunkerSettings
) -> list[Chunk]:
    content = [p for p in doc.paragraphs if p.kind is Kind.CONTENT]
    spans = [span for p in content for span in p.sentences]
    counts = count_tokens(normalize_space(doc.text[s:e]) for s, e in spans)
    tokens_of = dict(zip(spans, counts, strict=True))

    pieces: list[_Piece] = []
    heading, section = "", 0
    outline: list[_Heading] = []
    page = doc.page_of(0)
    for paragraph in doc.paragraphs:
        if doc.page_of(paragraph.start) != page:  # a passage stays on one page: cited by it
            page, section = doc.page_of(paragraph.start), section + 1
        if paragraph.kind is Kind.HEADING:
            text = doc.text[paragraph.start : paragraph.end]
            outline = _under(outline, _heading(text, doc.format))
            heading = heading_path(outline)
            section += 1
        elif paragraph.kind is not Kind.CONTENT:
            section += 1
        else:
            pieces.extend(_split_paragraph(doc, paragraph, tokens_of, settings, heading, section))
    pieces = _attach_pronoun_quotes(doc.text, _merge_short(pieces, settings), settings)
    return [_to_chunk(doc, piece) for piece in pieces]


def _split_paragraph(
    doc: Document,
    paragraph: Paragraph,
    tokens_of: dict[tuple[int, int], int],
    settings: ChunkerSettings,
    heading: str,
    section: int,
) -> list[_Piece]:
    groups: list[list[tuple[int, int]]] = [[]]
    used = 0
    for span in paragraph.sentences:
        for part in _fit_sentence(doc.text, span, tokens_of[span], settings.max_tokens):
            size = tokens_of.get(part) or _estimate(tokens_of[span], span, part)
            if groups[-1] and used + size > settings.max_tokens:
                groups.append([])
                used = 0
            groups[-1].append(part)
            used += size
    if len(groups) == 1:
        total = sum(tokens_of[s] for s in paragraph.sentences)
        return [_Piece([paragraph.number], groups[0], total, heading, section)]
    return [
        _Piece(
            [paragraph.number],
            group,
            sum(tokens_of.get(s) or 0 for s in group),
            heading,
            section,
            part=i + 1,
        )
        for i, group in enumerate(groups)
    ]


def _estimate(total_tokens: int, whole: tuple[int, int], part: tuple[int, int]) -> int:
    return max(1, round(total_tokens * (part[1] - part[0]) / max(1, whole[1] - whole[0])))


def _fit_sentence(
    text: str, span: tuple[int, int], tokens: int, max_tokens: int
) -> list[tuple[int, int]]:
    """A sentence longer than the limit (a run-on list, a table row) is cut at spaces."""
    if tokens <= max_tokens:
        return [span]
    start, end = span
    pieces = -(-tokens // max_tokens) + 1  # spare room: word pieces are not spread evenly
    step = (end - start) // pieces
    out, cursor = [], start
    while cursor < end:
        cut = min(end, cursor + step)
        if cut < end:
            space = text.rfind(" ", cursor + 1, cut)
            cut = space if space > cursor else cut
        piece = text[cursor:cut]
        s = cursor + len(piece) - len(piece.lstrip())
        e = cursor + len(piece.rstrip())
        if s < e:
            out.append((s, e))
        cursor = cut
    return out


def _can_join(a: _Piece, b: _Piece, settings: ChunkerSettings) -> bool:
    """Whole paragraphs of one section that fit in one passage together."""
    return (
        a.section == b.section
        and a.part == b.part == 0
        and a.tokens + b.tokens <= settings.max_tokens
    )


def _merge_short(pieces: list[_Piece], settings: ChunkerSettings) -> list[_Piece]:
    """Merge pieces below min_tokens into the next (else the previous) piece of the section."""

    def settle(short: _Piece) -> None:
        if out and _can_join(out[-1], short, settings):
            out[-1] = _join(out[-1], short)
        else:
            out.append(short)

    out: list[_Piece] = []
    pending: _Piece | None = None
    for piece in pieces:
        if pending is not None:
            if _can_join(pending, piece, settings):
                piece = _join(pending, piece)
            else:
                settle(pending)
            pending = None
        if piece.part == 0 and piece.tokens < settings.min_tokens:
            pending = piece
        else:
            out.append(piece)
    if pending is not None:
        settle(pending)
    return out


# A quote attributed to "he said" continues the paragraph that named the speaker: apart,
# neither passage holds both who spoke and what was said.
_PRONOUN_ATTRIBUTION = re.compile(
    r"[”\"’']\s*,?\s*(?:he|she|they)\s+(?:said|says|added|adds|told|explained|noted|wrote|"
    r"argued|warned|continued)\b",
    re.I,
)


def _attach_pronoun_quotes(
    text: str, pieces: list[_Piece], settings: ChunkerSettings
) -> list[_Piece]:
    out: list[_Piece] = []
    for piece in pieces:
        first = text[piece.sentences[0][0] : piece.sentences[0][1]]
        if out and _can_join(out[-1], piece, settings) and _PRONOUN_ATTRIBUTION.search(first):
            out[-1] = _join(out[-1], piece)
        else:
            out.append(piece)
    return out


def _join(first: _Piece, second: _Piece) -> _Piece:
    return _Piece(
        first.paragraphs + second.paragraphs,
        first.sentences + second.sentences,
        first.tokens + second.tokens,
        first.heading,
        first.section,
    )


def _to_chunk(doc: Document, piece: _Piece) -> Chunk:
    first, last = piece.paragraphs[0], piece.paragraphs[-1]
    chunk_id = f"{doc.doc_id}#p{first}" + (f"-{last}" if last != first else "")
    if piece.part:
        chunk_id += f".{piece.part}"
    start, end = piece.sentences[0][0], piece.sentences[-1][1]
    return Chunk(
        id=chunk_id,
        doc_id=doc.doc_id,
        paragraphs=tuple(piece.paragraphs),
        start=start,
        end=end,
        text=doc.text[start:end],
        heading=piece.heading,
        sentences=tuple(piece.sentences),
        document=doc.name or doc.doc_id,
        locator=locator(doc, start, end, piece.heading, tuple(piece.paragraphs)),
    )


# Formats whose headings are marked (Markdown, HTML, Word): a passage is found by its
# section. Plain text has no reliable headings, so a passage is found by its paragraph.
_SECTIONED = {"markdown", "html", "docx"}


def locator(doc: Document, start: int, end: int, heading: str, paragraphs: tuple[int, ...]) -> str:
    """Where a passage is, as a reader looks for it: the page in a PDF ("p. 12", "pp.
    12-13"), the heading path in a sectioned document, else the paragraph and the lines an
    editor shows ("¶24, lines 88-93")."""
    first = doc.page_of(start)
    if first is not None:
        last = doc.page_of(max(start, end - 1)) or first
        return f"p. {first}" if first == last else f"pp. {first}-{last}"
    if doc.format in _SECTIONED and heading:
        return heading
    return f"{paragraph_locator(paragraphs)}, {line_range(doc.text, start, end)}"


def line_range(text: str, start: int, end: int) -> str:
    """The lines `text[start:end]` spans, numbered from 1 as an editor numbers them."""
    first = text.count("\n", 0, start) + 1
    last = first + text.count("\n", start, max(start, end - 1))
    return f"line {first}" if first == last else f"lines {first}-{last}"
