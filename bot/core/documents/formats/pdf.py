"""PDF: the text layer, page by page, read by pypdfium2.

pypdfium2 binds PDFium (Chrome's PDF engine): a self-contained wheel, fast, tolerant of odd
files, and it tells encrypted ones apart. PDFium does no layout analysis: a page comes out as
its visual lines, so paragraphs are rebuilt here from where those lines sit on the page
(`_starts_paragraph`). Scanned pages have no text layer, and qabot does no OCR.
"""

from __future__ import annotations

import re
import zlib
from contextlib import suppress
from itertools import accumulate, pairwise
from typing import NamedTuple

from bot.core.documents.formats.extracted import MAX_UNPACKED_BYTES, Extracted
from bot.core.documents.formats.inflate import PIECE, ZLIB, inflated
from bot.core.errors import SourceError

_EOL = re.compile(r"\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")
_SENTENCE_END = re.compile(r"[.!?:…][\"'”’»)\]]*\s*$")
# PDFium drops the line break after a line-end hyphen and writes the hyphen as U+FFFE (\x02
# from get_text_bounded); a "-" or soft hyphen before a line break is the same thing.
_HYPHEN = re.compile(r"(\w)(?:[\x02\ufffe]|[-\xad]\n)(\w\S*)([^\S\n]+(?=\S))?")
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\xad\ufeff\ufffe\uffff]")

_NAN = float("nan")  # an unknown position: every comparison of a distance to it is false


class Line(NamedTuple):
    """A line of a page and where it sits, in PDF points (y upwards)."""

    text: str
    left: float = 0.0
    right: float = 0.0
    first: float = _NAN  # its first char's baseline
    last: float = _NAN  # its last char's: PDFium joins two lines at a line-end hyphen


def extract_pdf(data: bytes) -> Extracted:
    """Every page's text, paragraphs parted by blank lines, and where each page starts."""
    import pypdfium2 as pdfium

    _check_unpacked(data)
    try:
        with _open(pdfium, data) as pdf:
            title = " ".join(_clean(pdf.get_metadata_value("Title")).split())
            texts = [_page_text(pdf, index) for index in range(len(pdf))]
    except pdfium.PdfiumError as exc:
        raise SourceError(f"not a readable PDF ({str(exc).rstrip('.').lower()})") from None
    if not any(texts):
        raise SourceError(
            "a PDF without a text layer (scanned pages?); qabot reads only text, run OCR first"
        )
    text, pages = _join_pages(texts)
    return Extracted(text=text, format="pdf", pages=pages, title=title)


_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_FLATE = re.compile(rb"/Fl(?:ateDecode)?(?![A-Za-z])")
_IMAGE = re.compile(rb"/Subtype\s*/Image")  # decoded to render, not to read the text
_HEAD = 4096  # bytes before `stream` searched for its dictionary


def _check_unpacked(data: bytes) -> None:
    """SourceError when the Flate streams PDFium would decode to read the text unpack to
    more than MAX_UNPACKED_BYTES: each inflated and counted a piece at a time, first, since
    PDFium inflates a stream whole. A stream that does not inflate is PDFium's to judge."""
    total = 0
    for match in _STREAM.finditer(data):
        head = data[max(0, match.start() - _HEAD) : match.start()]
        head = head[head.rfind(b" obj") + 1 :]  # this object's dictionary (rfind -1: all)
        layers = len(_FLATE.findall(head))
        if not layers or _IMAGE.search(head):
            continue
        raw = (data[at : at + PIECE] for at in range(match.end(), len(data), PIECE))
        with suppress(zlib.error):
            for piece in inflated(raw, [ZLIB] * layers):
                total += len(piece)
                if total > MAX_UNPACKED_BYTES:
                    raise SourceError(
                        f"its compressed streams unpack to over the "
                        f"{MAX_UNPACKED_BYTES / 2**20:.0f} MB limit for a compressed document"
                    )


def _open(pdfium, data: bytes):
    """The document, loaded by the raw API: pypdfium2's helper reports a stale error code
    for a PDF without pages (a good load does not reset PDFium's last error)."""
    raw = pdfium.raw
    handle = raw.FPDF_LoadMemDocument64(data, len(data), None)
    if not handle:
        code = raw.FPDF_GetLastError()
        if code == raw.FPDF_ERR_PASSWORD:
            raise SourceError("an encrypted PDF; qabot cannot read it without the password")
        if code == raw.FPDF_ERR_SECURITY:
            raise SourceError("an encrypted PDF of a kind qabot cannot open")
        raise SourceError("not a readable PDF (damaged, or not a PDF at all)")
    pdf = pdfium.PdfDocument(handle)  # closes the handle; `data` (our caller's) outlives it
    if len(pdf) < 1:
        pdf.close()
        raise SourceError("a PDF without pages")
    return pdf


def _page_text(pdf, index: int) -> str:
    from pypdfium2 import PdfiumError

    page = pdf[index]
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        ends = list(_EOL.finditer(text))
        starts = [0, *(m.end() for m in ends)]
        spans = list(zip(starts, [*(m.start() for m in ends), len(text)], strict=True))
        lines = [Line(text[a:b], 0.0, len(text[a:b].rstrip())) for a, b in spans]
        # Chars are looked up by index, which is only safe when PDFium's text is its char
        # list one to one (it can drop or add chars); otherwise the text alone must do.
        if len(text) == textpage.count_chars():
            with suppress(PdfiumError):
                lines = [_place(textpage, text, a, b) for a, b in spans]
    finally:
        textpage.close()
        page.close()
    return _clean(_paragraphs(lines))


def _place(textpage, text: str, start: int, end: int) -> Line:
    """A line and where it sits: baselines rather than glyph boxes, which vary by font."""
    import ctypes

    from pypdfium2 import PdfiumError, raw

    body = text[start:end]
    first, last = start + len(body) - len(body.lstrip()), start + len(body.rstrip()) - 1
    if last < first:
        return Line(body)
    x, y, x_last, y_last = (ctypes.c_double() for _ in range(4))
    if not (
        raw.FPDFText_GetCharOrigin(textpage, first, x, y)
        and raw.FPDFText_GetCharOrigin(textpage, last, x_last, y_last)
    ):
        raise PdfiumError("no char origin")
    return Line(body, x.value, textpage.get_charbox(last)[2], y.value, y_last.value)


def _paragraphs(lines: list[Line]) -> str:
    """The page's lines, with a blank line wherever a new paragraph seems to start."""
    kept: list[Line] = []
    for line in lines:  # PDFium's own blank lines part paragraphs already
        if line.text.strip():
            kept.append(line)
        elif kept and kept[-1].text:
            kept.append(Line(""))
    limit = 1.2 * _line_spacing([a.last - b.first for a, b in pairwise(kept)])
    out: list[str] = []
    for j, line in enumerate(kept):
        if j and kept[j - 1].text and line.text and _starts_paragraph(kept, j, limit):
            out.append("")
        out.append(line.text)
    # The paragraph reader ends a paragraph after any line longer than a hand-wrapped one
    # (100 characters), and PDF lines often are: a paragraph's lines become one line.
    blocks = re.split(r"\n\s*\n", "\n".join(out))
    return "\n\n".join(" ".join(b.split("\n")).strip() for b in blocks if b.strip())


def _line_spacing(pitches: list[float]) -> float:
    """The distance between the baselines of one paragraph's lines: the smallest that recurs
    (spaced-out lists and code must not set it; a lone small one is a superscript)."""
    pitches = sorted(p for p in pitches if p > 0)
    pitches = [p for p in pitches if p > pitches[len(pitches) // 2] / 2]
    return next((p for p, q in pairwise(pitches) if q - p < 0.05 * q), float("inf"))


def _starts_paragraph(lines: list[Line], j: int, limit: float) -> bool:
    """Does line j start a paragraph? Yes after a gap a fifth wider than the line spacing
    (space between paragraphs, around headings), or after a short line ending a sentence:
    a paragraph's last line stops short of the right edge its neighbours reach (a line's
    length in chars stands in for its right edge when positions are unknown)."""
    prev, line = lines[j - 1], lines[j]
    if prev.last - line.first > limit:
        return True
    if not _SENTENCE_END.search(prev.text):
        return False
    widest = max((lines[k] for k in (j - 2, j) if k >= 0 and lines[k].text), key=lambda n: n.right)
    return prev.right < widest.right - 0.15 * (widest.right - widest.left)


def _clean(text: str) -> str:
    """Readable text: words whole across line-end hyphens, no control chars, no trailing
    blanks, at most one blank line in a row."""
    text = _HYPHEN.sub(_dehyphenate, _EOL.sub("\n", text))
    text = _CONTROL.sub("", _ESCAPE.sub("", re.sub("[\x02\ufffe]", "-", text)))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.split("\n"))).strip()


def _dehyphenate(match: re.Match[str]) -> str:
    """ "exam-\\nple text" -> "example\\ntext" (the line break moves after the joined word),
    only between lowercase letters: "Jean-\\nLuc" and "COVID-\\n19" keep their hyphen."""
    head, tail, space = match.groups()
    if head.islower() and tail[0].islower():
        return head + tail + ("\n" if space else "")
    return match[0] if "\n" in match[0] else f"{head}-{tail}{space or ''}"


def _join_pages(texts: list[str]) -> tuple[str, tuple[int, ...]]:
    """Pages joined by a blank line; a page without text starts where the next one does."""
    parts = [text for text in texts if text]
    offsets = list(accumulate((len(text) + 2 for text in parts[:-1]), initial=0))
    starts, following = [], sum(len(text) + 2 for text in parts) - 2
    for text in reversed(texts):
        following = offsets.pop() if text else following
        starts.append(following)
    return "\n\n".join(parts), tuple(reversed(starts))
