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
