"""Reading a document's structure: paragraphs, what kind each is, their sentences.

Offsets are character offsets into the document's text (a file's decoded text without its
BOM, or the text extracted from HTML, PDF or DOCX: see bot.core.documents.sources), so
`document.text[start:end]` is always exactly the passage a citation points at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.core.documents.kinds import classify
from bot.core.documents.sentences import split_sentences
from bot.core.types import Kind, Paragraph

# A line longer than this was not broken by hand, so a line break after it ends a paragraph.
WRAP_WIDTH = 100


# --- names --------------------------------------------------------------------------------


def slug(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return cleaned[:40] or "doc"


# --- paragraphs ----------------------------------------------------------------------------

_BLANK = re.compile(r"[\s\u00a0\u200b]*")
_FENCE = re.compile(r"\s*(```|~~~)")
# Markdown headings: "## Install" (the #s give the level), or a line underlined with = or -.
ATX_HEADING = re.compile(r"\s{0,3}(#{1,6})\s+\S")
SETEXT_UNDERLINE = re.compile(r"\s{0,3}(=+|-+)\s*")
_LIST_ITEM = re.compile(r"\s*(?:[-*+•]|\d{1,3}[.)]|\([a-z0-9]{1,4}\))\s+\S")
# A Markdown link's target is not read: a line long only because of URLs is still wrapped.
_LINK_TARGET = re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")


_BOX_RULE = re.compile(r"\s*\*{10,}\s*")
_BOX_LINE = re.compile(r"(\s*\*)(.*?)\*\s*")


# A line and its break, where str.splitlines breaks lines.
_LINE = re.compile(
    r"[^\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*(?:\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029])?"
)


def split_lines(text: str) -> Iterator[str]:
    """`text.splitlines(keepends=True)`, one line at a time (a large text's lines, all at
    once, would take more memory than the text)."""
    for match in _LINE.finditer(text):
        if match.start() == len(text):
            return
        yield match.group()


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every line's content, without its line break.

    Inside a box drawn with asterisks (licences love them), the borders are not content:
    the span is the text between them, and the rules above and below read as blank lines.
    """
    pos, in_box = 0, False
    for line in split_lines(text):
        body = line.rstrip("\r\n")
        start, end = pos, pos + len(body)
        pos += len(line)
        if _BOX_RULE.fullmatch(body):
            in_box = not in_box
            yield start, start
            continue
        box = _BOX_LINE.fullmatch(body) if in_box else None
        if box:
            start, end = start + box.end(1), start + box.end(2)
        yield start, end


def _blocks(text: str) -> Iterator[tuple[list[tuple[int, int]], bool]]:
    """Group lines into (lines, is_code) runs: split at blank lines and code fences. One run
    at a time: a large document's lines, all at once, would outweigh its text."""
    current: list[tuple[int, int]] = []
    in_code = False
    for start, end in _lines(text):
        line = text[start:end]
        if _FENCE.match(line):
            if in_code:
                current.append((start, end))
                yield current, True
                current = []
            else:
                if current:
                    yield current, False
                current = [(start, end)]
            in_code = not in_code
        elif in_code:
            current.append((start, end))
        elif _BLANK.fullmatch(line):
            if current:
                yield current, False
            current = []
        else:
            current.append((start, end))
    if current:
        yield current, in_code


def _split_block(text: str, lines: list[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """Split one block into paragraphs: (start, end, is_heading).

    A block whose lines are all short is hard-wrapped prose (one paragraph, lines joined);
    a line longer than WRAP_WIDTH means its line break is a paragraph break. Headings and
    list items always start paragraphs of their own.
    """
    out: list[tuple[int, int, bool]] = []
    group: list[tuple[int, int]] = []

    def flush(is_heading: bool = False) -> None:
        nonlocal group
        if group:
            out.append((group[0][0], group[-1][1], is_heading))
        group = []

    for i, (start, end) in enumerate(lines):
        line = text[start:end]
        if SETEXT_UNDERLINE.fullmatch(line) and len(group) == 1:
            group.append((start, end))
            flush(is_heading=True)
            continue
        if ATX_HEADING.match(line):
            flush()
            group.append((start, end))
            flush(is_heading=True)
            continue
        if group:
            prev_start, prev_end = lines[i - 1]
            if _visible_length(text[prev_start:prev_end]) > WRAP_WIDTH or _LIST_ITEM.match(line):
                flush()
        group.append((start, end))
    flush()
    return out


def _visible_length(line: str) -> int:
    return len(_LINK_TARGET.sub("]", line))


def parse_paragraphs(text: str, fmt: str = "text") -> list[Paragraph]:
    """The paragraphs of a document's text as its format's reader produced it (`fmt`)."""
    paragraphs: list[Paragraph] = []
    for lines, is_code in _blocks(text):
        parts = [(lines[0][0], lines[-1][1], False)] if is_code else _split_block(text, lines)
        for start, end, is_heading in parts:
            # Trim surrounding white space so offsets frame exactly the words.
            raw = text[start:end]
            lead = len(raw) - len(raw.lstrip())
            start, end = start + lead, start + len(raw.rstrip())
            if start >= end:
                continue
            if is_code:
                kind = Kind.CODE
            elif is_heading:
                kind = Kind.HEADING
            else:
                kind = classify(text[start:end], index=len(paragraphs), fmt=fmt)
            sentences = tuple(split_sentences(text, start, end)) if kind is Kind.CONTENT else ()
            paragraphs.append(Paragraph(len(paragraphs) + 1, start, end, kind, sentences))
    return paragraphs
