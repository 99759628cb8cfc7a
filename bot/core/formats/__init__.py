"""Reading documents of every supported format into one shape: text the paragraph reader
understands (Markdown-style: `#` headings, blank lines between paragraphs), plus where each
page starts for paged formats.

Each format is read by a maintained library, imported only when a file of its kind is read:
HTML by trafilatura (main content, boilerplate dropped), PDF by pypdfium2 (the text layer,
page by page), DOCX by python-docx (headings and paragraphs). `text[start:end]` of the
extracted text is what a citation quotes, so the index keeps it (not the original file).
"""

from __future__ import annotations

from dataclasses import dataclass


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


# File name endings qabot reads, and as what. A file with another ending is read as plain
# text when named on its own (LICENSE, a man page's text), skipped when a folder is added.
SUFFIXES = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


def format_of(name: str) -> str | None:
    """The format a file name says, or None for an ending qabot does not know."""
    dot = name.rfind(".")
    return SUFFIXES.get(name[dot:].lower()) if dot > 0 else None


def extract(data: bytes, fmt: str, url: str | None = None) -> Extracted:
    """The text of `data` read as `fmt`; SourceError (without the file's name) when it
    cannot be read."""
    if data.startswith(b"%PDF-"):
        fmt = "pdf"  # whatever its name says: a PDF's bytes are never text
    if fmt == "html":
        from bot.core.formats.html import extract_html

        return extract_html(data, url)
    if fmt == "pdf":
        from bot.core.formats.pdf import extract_pdf

        return extract_pdf(data)
    if fmt == "docx":
        from bot.core.formats.docx import extract_docx

        return extract_docx(data)
    from bot.core.formats.text import extract_text

    return extract_text(data, fmt if fmt == "markdown" else "text")
