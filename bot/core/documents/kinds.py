"""What a paragraph is: prose, a heading, or page furniture that never answers (datelines,
bylines, video blocks, photo captions, credits, Markdown and HTML layout)."""

from __future__ import annotations

import re

from bot.core.documents.sentences import split_sentences
from bot.core.types import Kind, normalize_space

BULLET = re.compile(r"\s*[-*+•]\s+")
# A horizontal rule: also a setext underline's shape, so the paragraph reader checks it first.
RULE = re.compile(r"(?:-{3,}|\*{3,}|_{3,})")

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
# An HTML tag or comment (`<!-- introduced_in=v0.10.0 -->` marks up Node's API docs).
TAG = re.compile(r"</?[a-zA-Z][^>]*>|<!--.*?-->", re.S)
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.I)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_ANCHOR_LINK = re.compile(r"\[[^\]]*\]\(#[^)]*\)")
_TERMINAL = re.compile(r"[.!?:;,…][\"'”’)\]]*$")
# Formats whose reader has already parsed the markup away: a `<tag>` left in their text is
# the document's own words (an XML guide's `<server>`), never layout to drop.
TAGS_ARE_TEXT = frozenset({"html", "docx"})
# Formats that mark every heading themselves (Word's heading styles and outline levels):
# a short line there is a short paragraph, not a heading guessed from its shape.
HEADINGS_MARKED = frozenset({"docx"})


def classify(paragraph: str, index: int = 0, fmt: str = "text") -> Kind:
    """Tell prose from the furniture of a page: bylines, captions, credits and headings, as
    far as the format `fmt` ("text", "markdown", "html", "pdf", "docx") leaves them unsaid."""
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
    markup = _markup(flat, tags=fmt not in TAGS_ARE_TEXT)
    if markup is not None:
        return markup
    if (
        fmt not in HEADINGS_MARKED
        and single_line
        and not BULLET.match(flat)
        and len(words) <= 8
        and len(flat) <= 70
        and not _TERMINAL.search(flat)
        and any(c.isalpha() for c in flat)
        and not flat[0].islower()
    ):
        return Kind.HEADING
    return Kind.CONTENT


def _markup(flat: str, tags: bool = True) -> Kind | None:
    """Markdown and HTML layout: `<details>` alone is markup, `<summary>Mac</summary>` a
    heading; an image, a horizontal rule or a list of links to the document's own anchors
    (its table of contents) is markup."""
    if tags and _SUMMARY.search(flat):
        return Kind.HEADING
    if RULE.fullmatch(flat):
        return Kind.MARKUP
    bare = _ANCHOR_LINK.sub(" ", _IMAGE.sub(" ", TAG.sub(" ", flat) if tags else flat))
    bare = BULLET.sub(" ", bare)
    if bare != flat and not any(c.isalnum() for c in bare):
        return Kind.MARKUP
    return None


def _looks_like_photo_caption(flat: str, words: list[str]) -> bool:
    if len(words) > 35 or _QUOTES.search(flat) or len(split_sentences(flat, 0, len(flat))) > 1:
        return False
    if _POSITION.search(flat):
        return True
    return bool(_DATED_END.search(flat)) and not _PAST_OR_SPEECH.search(flat)
