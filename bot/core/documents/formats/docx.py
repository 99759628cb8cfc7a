"""Reading a Word .docx file into qabot's Markdown-style text: headings as `#` lines, list
items as `- ` lines, table rows as `a | b | c` lines, one blank line between blocks.

python-docx reads the package and its XML for us (styles, numbering, tables in document
order) and is the maintained library for the format; it cannot read legacy binary .doc files,
which are OLE2 compound files, like password-protected Office files of any kind.
"""

from __future__ import annotations

import io
import re

from bot.core.documents.formats.extracted import (
    LEGACY_OFFICE,
    MAX_UNPACKED_BYTES,
    OLE2_MAGIC,
    Extracted,
)
from bot.core.errors import SourceError

# C0 and C1 controls; tab, line feed, NEL etc. are white space, folded to spaces below.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_WHITE = re.compile(r"\s+")
_HEADING_STYLE = re.compile(r"Title|Heading ([1-9])")
# A prose or table line the paragraph reader would take for a heading, code fence or the
# underline of a heading above it.
_MARKUP_START = re.compile(r"#{1,6}\s|```|~~~|[=-]+$")
_OUTLINE_LEVELS = frozenset("012345678")
_STYLE_DEPTH = 10  # basedOn chains are short; the bound guards against a cycle in a bad file


def extract_docx(data: bytes) -> Extracted:
    """Read a .docx file's bytes, or raise SourceError with a one-line reason."""
    if data.startswith(OLE2_MAGIC):
        raise SourceError(LEGACY_OFFICE)
    blocks, title = _read(data)
    if not blocks:
        raise SourceError("no text in this Word document")
    if not title:
        title = next((text for level, text in blocks if level == 1), "")
    return Extracted(text="\n\n".join(_render(b) for b in blocks), format="docx", title=title)


def _read(data: bytes) -> tuple[list[tuple[int, str]], str]:
    import zipfile
    import zlib

    import docx
    from docx.exceptions import PythonDocxError
    from docx.opc.exceptions import OpcError
    from docx.oxml.exceptions import XmlchemyError
    from lxml import etree

    # zipfile, zlib and lxml errors reach us unwrapped; python-docx raises KeyError for a
    # missing part, ValueError for another Office format and for bad attribute values.
    archive = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)
    errors = (*archive, OpcError, PythonDocxError, XmlchemyError, etree.LxmlError)
    try:
        _check_unpacked(zipfile.ZipFile(io.BytesIO(data)))
        document = docx.Document(io.BytesIO(data))
        blocks = [(level, text) for level, text in _blocks(document) if text]
        return blocks, _core_title(document)
    except (*errors, KeyError, ValueError, TypeError) as exc:
        raise SourceError(f"not a readable Word .docx file ({_reason(exc, archive)})") from exc


def _check_unpacked(archive) -> None:
    """SourceError when the parts unpack to more than MAX_UNPACKED_BYTES, as their zip
    entries declare (before any is inflated: python-docx reads every part whole)."""
    declared = sum(entry.file_size for entry in archive.infolist())
    if declared > MAX_UNPACKED_BYTES:
        raise SourceError(
            f"its parts unpack to {declared / 2**20:,.0f} MB, over the "
            f"{MAX_UNPACKED_BYTES / 2**20:.0f} MB limit for a compressed document"
        )


def _reason(exc: Exception, archive: tuple[type[Exception], ...]) -> str:
    message = _clean(str(exc))
    if "not a zip file" in message:
        return "not a zip archive"
    if isinstance(exc, archive):
        return "a damaged zip archive"
    if "[Content_Types].xml" in message:  # every Office Open XML package has one
        return "a zip archive, but not an Office document"
    if "is not a Word file" in message:
        return "another kind of Office file, not a Word document"
    if isinstance(exc, KeyError):
        return "a part of the document is missing"
    return "damaged content: " + re.split(r"[,(]", message)[0].strip(" .").lower()


def _blocks(container):
    """(level, text) of every block in document order: level 1-6 for a heading, 0 for prose,
    -1 for a list item, -2 for a table (one line per row)."""
    from docx.table import Table

    for item in container.iter_inner_content():
        if isinstance(item, Table):
            rows = (_row_text(row) for row in item.rows)
            yield -2, "\n".join(row for row in rows if row)
        else:
            yield _paragraph_level(item), _clean(item.text)


def _row_text(row) -> str:
    # A cell spanning columns comes back once per column (the same object, dropped here); a
    # cell spanning rows comes back in each, which we keep: each row line reads as a record.
    # A cell's paragraphs, and any table nested in it, are flattened onto the row's line.
    cells = (_clean(" ".join(t for _, t in _blocks(cell))) for cell in dict.fromkeys(row.cells))
    return " | ".join(text for text in cells if text)


def _paragraph_level(paragraph) -> int:
    """1-6 for a heading, -1 for a list item, 0 for prose. Styles are followed through the
    styles they are based on: custom heading styles are usually based on built-in ones."""
    chain, style = [paragraph._p], paragraph.style
    for _ in range(_STYLE_DEPTH):
        if style is None:
            break
        name = style.name or ""
        if heading := _HEADING_STYLE.fullmatch(name):
            return min(int(heading.group(1) or 1), 6)
        if name.startswith(("List Bullet", "List Number")):
            return -1
        chain.append(style.element)
        style = style.base_style
    # An outline level (0-8; 9 is body text) makes a heading even without a heading style.
    outline = _nearest(chain, "./w:pPr/w:outlineLvl/@w:val")
    if outline in _OUTLINE_LEVELS:
        return min(int(outline) + 1, 6)
    return -1 if _nearest(chain, "./w:pPr/w:numPr/w:numId/@w:val") not in ("", "0") else 0


def _nearest(chain, xpath: str) -> str:
    """The value set closest to the paragraph: its own, else its style's, else a base's."""
    return next((found[0] for element in chain if (found := element.xpath(xpath))), "")


def _core_title(document) -> str:
    from docx.opc.constants import RELATIONSHIP_TYPE

    # python-docx invents "Word Document" when the file has no core properties part.
    try:
        document.part.package.part_related_by(RELATIONSHIP_TYPE.CORE_PROPERTIES)
    except KeyError:
        return ""
    return _clean(document.core_properties.title or "")


def _clean(text: str) -> str:
    # Soft line breaks and tabs become spaces: a Word paragraph stays one paragraph here.
    return _WHITE.sub(" ", _CONTROLS.sub("", text)).strip()


def _render(block: tuple[int, str]) -> str:
    level, text = block
    if level > 0:
        return "#" * level + " " + text
    if level == -1:
        return "- " + text
    # Escaped as Markdown does, so prose starting with "# " or a fence stays prose.
    lines = text.split("\n")
    return "\n".join("\\" + line if _MARKUP_START.match(line) else line for line in lines)
