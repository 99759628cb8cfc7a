"""Plain text and Markdown: bytes decoded, nothing else changed (offsets are the file's)."""

from __future__ import annotations

import codecs

from bot.core.documents.formats.extracted import Extracted
from bot.core.errors import SourceError

BINARY = "looks like a binary file; qabot reads text, Markdown, HTML, PDF and Word .docx"

# Byte-order marks and their codecs; UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode(data: bytes, charset: str | None = None) -> str:
    """The text of a file: UTF-8, or UTF-16/32 with a byte-order mark (which is dropped);
    or, for a web page whose server declared it (`charset=iso-8859-1`), that charset. A
    byte-order mark outweighs the declaration, as browsers have it."""
    if charset is not None and not any(data.startswith(bom) for bom, _ in _BOMS):
        return _declared(data, charset)
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise SourceError(f"not valid {codec.upper()} text") from exc
    if b"\x00" in data:
        raise SourceError(BINARY)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"not UTF-8 text (invalid byte at offset {exc.start}); convert it first, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from exc


def _declared(data: bytes, charset: str) -> str:
    import codecs

    try:
        text = data.decode(codecs.lookup(charset).name)
    except LookupError:  # a charset Python does not know (or not a text encoding: base64)
        return decode(data)  # read as an undeclared one
    except (UnicodeError, ValueError) as exc:
        at = exc.start if isinstance(exc, UnicodeDecodeError) else None
        where = f" (invalid byte at offset {at})" if at is not None else ""
        raise SourceError(f"not {charset[:40]} text, as the server declared{where}") from exc
    if "\x00" in text:
        raise SourceError(BINARY)
    return text


def extract_text(data: bytes, fmt: str = "text") -> Extracted:
    text = decode(data)
    if "\x00" in text:
        raise SourceError(BINARY)
    return Extracted(text=text, format=fmt)
