"""Loading a document and reading its structure: paragraphs, what kind each is, its sentences.

Offsets are character offsets into the decoded text (a leading BOM is not part of it), so
`document.text[start:end]` is always exactly the passage a citation points at.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bot.core.errors import SourceError
from bot.core.types import Document, Kind, Paragraph, normalize_space

# A line longer than this was not broken by hand, so a line break after it ends a paragraph.
WRAP_WIDTH = 100


# --- loading -------------------------------------------------------------------------------


def read_text(path: Path) -> tuple[str, str]:
    """Return (text, sha256 of the bytes), or raise SourceError with a one-line reason."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory, not a text file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    digest = hashlib.sha256(data).hexdigest()
    if b"\x00" in data[:8192]:
        raise SourceError(f"{path}: looks like a binary file; qabot reads plain text or Markdown")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: not UTF-8 text (invalid byte at offset {exc.start}); "
            f"convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from exc
    if not text.strip():
        raise SourceError(f"{path}: the file is empty")
    return text, digest


def load_document(path: Path, doc_id: str | None = None) -> Document:
    path = Path(path)
    text, digest = read_text(path)
    paragraphs = parse_paragraphs(text)
    if not any(p.kind is Kind.CONTENT for p in paragraphs):
        raise SourceError(f"{path}: no readable prose found (only headings, captions or code)")
    return Document(
        path=path,
        doc_id=doc_id or slug(path.stem),
        text=text,
        sha256=digest,
        paragraphs=tuple(paragraphs),
    )


def slug(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return cleaned[:40] or "doc"


# --- paragraphs ----------------------------------------------------------------------------

_BLANK = re.compile(r"[\s\u00a0\u200b]*")
_FENCE = re.compile(r"\s*(```|~~~)")
_ATX_HEADING = re.compile(r"\s{0,3}#{1,6}\s+\S")
_SETEXT_UNDERLINE = re.compile(r"\s{0,3}(=+|-+)\s*")
_LIST_ITEM = re.compile(r"\s*(?:[-*+•]|\d{1,3}[.)]|\([a-z0-9]{1,4}\))\s+\S")
_BULLET = re.compile(r"\s*[-*+•]\s+")
# A Markdown link's target is not read: a line long only because of URLs is still wrapped.
_LINK_TARGET = re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")


_BOX_RULE = re.compile(r"\s*\*{10,}\s*")
_BOX_LINE = re.compile(r"(\s*\*)(.*?)\*\s*")


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line's content, without its line break.

    Inside a box drawn with asterisks (licences love them), the borders are not content:
    the span is the text between them, and the rules above and below read as blank lines.
    """
    spans, pos, in_box = [], 0, False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        start, end = pos, pos + len(body)
        pos += len(line)
        if _BOX_RULE.fullmatch(body):
            in_box = not in_box
            spans.append((start, start))
            continue
        box = _BOX_LINE.fullmatch(body) if in_box else None
        if box:
            start, end = start + box.end(1), start + box.end(2)
        spans.append((start, end))
    return spans


def _blocks(text: str) -> list[tuple[list[tuple[int, int]], bool]]:
    """Group lines into (lines, is_code) runs: split at blank lines and code fences."""
    blocks: list[tuple[list[tuple[int, int]], bool]] = []
    current: list[tuple[int, int]] = []
    in_code = False

    def flush(is_code: bool) -> None:
        nonlocal current
        if current:
            blocks.append((current, is_code))
        current = []

    for start, end in _lines(text):
        line = text[start:end]
        if _FENCE.match(line):
            if in_code:
                current.append((start, end))
                flush(True)
            else:
                flush(False)
                current.append((start, end))
            in_code = not in_code
        elif in_code:
            current.append((start, end))
        elif _BLANK.fullmatch(line):
            flush(False)
        else:
            current.append((start, end))
    flush(in_code)
    return blocks


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
        if _SETEXT_UNDERLINE.fullmatch(line) and len(group) == 1:
            group.append((start, end))
            flush(is_heading=True)
            continue
        if _ATX_HEADING.match(line):
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


def parse_paragraphs(text: str) -> list[Paragraph]:
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
                kind = classify(text[start:end], index=len(paragraphs))
            sentences = tuple(split_sentences(text, start, end)) if kind is Kind.CONTENT else ()
            paragraphs.append(Paragraph(len(paragraphs) + 1, start, end, kind, sentences))
    return paragraphs


# --- what a paragraph is -----------------------------------------------------------------

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# "CNN —", "WASHINGTON (Reuters) -": an agency or city dateline standing alone.
_DATELINE = re.compile(r"[A-Z][\w .,'&/()]{0,60}?\s*[—–-]+\s*")
_BYLINE = re.compile(r"By\s+[A-Z][\w.'-]*(?:\s+[\w.'-]+){0,6}(?:,\s*[\w ]+)?")
# "02:18 - Source: CNN": a video block, whose next line is the video's title.
_VIDEO = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?\s*[-–—]\s*Source:", re.I)
_CREDIT = re.compile(
    r"(?:(?:Photo|Image|Video|Credit|Picture)s?\s*(?:credit)?\s*:"
    r"|.*(?:Getty Images|/AFP|/Reuters|/AP)\b)",
    re.I,
)
# Who stands where in a photo: "(R)", "(left)".
_POSITION = re.compile(
    r"(?<=\w )\((?:L|R|C|left|right|centre|center|top|bottom|front|back)\)", re.I
)
# Photo captions end on the place and date the picture was taken.
_DATED_END = re.compile(rf"(?:\b{_MONTH}\.? \d{{1,2}}(?:, \d{{4}})?|, (?:19|20)\d\d)[.”\"']?$")
# Captions are verbless or in the present tense; reported prose is not.
_PAST_OR_SPEECH = re.compile(
    r"\b(?:\w+ed|was|were|had|has|said|told|says|took|made|met|became|went|came|did|been|is|are)\b",
    re.I,
)
_QUOTES = re.compile(r"[\"“”]")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.I)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_RULE = re.compile(r"(?:-{3,}|\*{3,}|_{3,})")
_ANCHOR_LINK = re.compile(r"\[[^\]]*\]\(#[^)]*\)")
_TERMINAL = re.compile(r"[.!?:;,…][\"'”’)\]]*$")


def classify(paragraph: str, index: int = 0) -> Kind:
    """Tell prose from the furniture of a page: bylines, captions, credits and headings."""
    flat = normalize_space(paragraph)
    words = flat.split()
    single_line = "\n" not in paragraph.strip()
    if _VIDEO.match(flat):
        return Kind.CAPTION
    if single_line and len(words) <= 12 and _DATELINE.fullmatch(flat):
        return Kind.BYLINE
    if index < 3 and single_line and _BYLINE.fullmatch(flat):
        return Kind.BYLINE
    if len(words) <= 25 and _CREDIT.match(flat):
        return Kind.CAPTION
    if _looks_like_photo_caption(flat, words):
        return Kind.CAPTION
    markup = _markup(flat)
    if markup is not None:
        return markup
    if (
        single_line
        and not _BULLET.match(flat)
        and len(words) <= 8
        and len(flat) <= 70
        and not _TERMINAL.search(flat)
        and any(c.isalpha() for c in flat)
        and not flat[0].islower()
    ):
        return Kind.HEADING
    return Kind.CONTENT


def _markup(flat: str) -> Kind | None:
    """Markdown and HTML layout: `<details>` alone is markup, `<summary>Mac</summary>` a
    heading; an image, a horizontal rule or a list of links to the document's own anchors
    (its table of contents) is markup."""
    if _SUMMARY.search(flat):
        return Kind.HEADING
    if _RULE.fullmatch(flat):
        return Kind.MARKUP
    bare = _ANCHOR_LINK.sub(" ", _IMAGE.sub(" ", TAG.sub(" ", flat)))
    bare = _BULLET.sub(" ", bare)
    if bare != flat and not any(c.isalnum() for c in bare):
        return Kind.MARKUP
    return None


def _looks_like_photo_caption(flat: str, words: list[str]) -> bool:
    if len(words) > 35 or _QUOTES.search(flat) or len(split_sentences(flat, 0, len(flat))) > 1:
        return False
    if _POSITION.search(flat):
        return True
    return bool(_DATED_END.search(flat)) and not _PAST_OR_SPEECH.search(flat)


# --- sentences -----------------------------------------------------------------------------

# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "ft",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "cf",
        "al",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "nos",
        "fig",
        "figs",
        "gen",
        "gov",
        "sen",
        "rep",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "pres",
        "dept",
        "univ",
        "approx",
        "est",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "art",
        "sec",
        "ch",
        "vol",
        "pp",
        "p",
        "ed",
        "eds",
        "u.s",
        "u.k",
        "u.n",
        "a.m",
        "p.m",
    ]
)
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
            last in _ABBREVIATIONS
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
