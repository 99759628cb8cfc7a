"""What every format's reader returns, and what none may unpack past. Apart from the
package so that the readers, which the package imports when a file of their kind comes,
do not import the package back."""

from __future__ import annotations

from dataclasses import dataclass

# The way out for a legacy Word file, named on its own or met in a folder.
SAVE_AS_DOCX = "qabot reads .docx: open it in Word or LibreOffice and save it as .docx"
# An OLE2 compound file: legacy .doc/.xls/.ppt, or any Office file with a password.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
LEGACY_OFFICE = f"an old Word .doc file or a password-protected Office file; {SAVE_AS_DOCX}"


@dataclass(frozen=True)
class Extracted:
    """A document's text as qabot reads it."""

    text: str  # Markdown-style: "# Heading" lines, paragraphs separated by blank lines
    format: str  # "text", "markdown", "html", "pdf" or "docx"
    pages: tuple[int, ...] = ()  # offset in `text` where each page starts (PDF); () if none
    title: str = ""  # the document's own title, when it has one (HTML <title>, PDF metadata)

    def page_of(self, offset: int) -> int | None:
        """1-based number of the page holding `offset`, or None for unpaged formats."""
        if not self.pages:
            return None
        import bisect

        return max(1, bisect.bisect_right(self.pages, offset))


# What a compressed document may unpack to before it is read: a .docx's parts (as their
# zip entries declare: zipfile never inflates an entry past its declared size) and a PDF's
# compressed streams other than images (inflated and counted first, a piece at a time).
# Real documents unpack to a few MB; a 400 MB stream in a 408 KB PDF cost PDFium 880 MB.
MAX_UNPACKED_BYTES = 128 * 1024 * 1024
