"""Reading documents of every supported format into one shape: text the paragraph reader
understands (Markdown-style: `#` headings, blank lines between paragraphs), plus where each
page starts for paged formats.

Each format is read by a maintained library, imported only when a file of its kind is read:
HTML by trafilatura (main content, boilerplate dropped), PDF by pypdfium2 (the text layer,
page by page), DOCX by python-docx (headings and paragraphs). `text[start:end]` of the
extracted text is what a citation quotes, so the index keeps it (not the original file).
"""

from __future__ import annotations

from bot.core.documents.formats.extracted import (
    LEGACY_OFFICE,
    MAX_UNPACKED_BYTES,
    OLE2_MAGIC,
    SAVE_AS_DOCX,
    Extracted,
)
from bot.core.errors import SourceError

__all__ = ["MAX_UNPACKED_BYTES", "Extracted", "extract", "format_of"]


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


# The endings a folder's files are read by, as a refusal lists them (the others are variants).
_SHOWN = (".txt", ".md", ".html", ".pdf", ".docx")
# Legacy binary Office formats: each has a successor qabot reads, or a PDF export.
_LEGACY = {".doc": SAVE_AS_DOCX, ".dot": SAVE_AS_DOCX}


def unread_reason(name: str) -> str:
    """Why a file met in a folder is left out, with the way out: what to save an old .doc
    as, or which formats qabot reads."""
    dot = name.rfind(".")
    suffix = name[dot:].lower() if dot > 0 else ""
    if suffix in _LEGACY:
        return f"an old Word {suffix} file; {_LEGACY[suffix]}"
    what = f"a {suffix} file" if suffix else "a file without an ending"
    return f"{what}, not a format qabot reads ({', '.join(_SHOWN)})"


def format_of(name: str) -> str | None:
    """The format a file name says, or None for an ending qabot does not know."""
    dot = name.rfind(".")
    return SUFFIXES.get(name[dot:].lower()) if dot > 0 else None


def extract(data: bytes, fmt: str, url: str | None = None) -> Extracted:
    """The text of `data` read as `fmt`; SourceError (without the file's name) when it
    cannot be read, for any reason: one file a library trips on, or whose reader cannot be
    imported, is left out of a build like any unreadable file, not the end of the build."""
    if data.startswith(b"%PDF-"):
        fmt = "pdf"  # whatever its name says: a PDF's bytes are never text
    if data.startswith(OLE2_MAGIC):  # an old .doc named on its own: the way out, not "binary"
        raise SourceError(LEGACY_OFFICE)
    try:
        return _extract(data, fmt, url)
    except SourceError:
        raise
    except ImportError as exc:  # an install without a reader's dependency (pip 23, issue 23)
        missing = _missing_module(exc)
        raise SourceError(
            f"the {_NAMES.get(fmt, fmt)} reader cannot load ({missing} is not installed); "
            "reinstall qabot to read this format"
        ) from None
    except Exception as exc:  # a parser's own failure on this file's bytes
        raise SourceError(
            f"could not be read as {_NAMES.get(fmt, fmt)} ({type(exc).__name__})"
        ) from None


def _missing_module(exc: ImportError) -> str:
    """The module that is not installed: libraries re-raise the import's error with advice
    of their own (lxml for lxml_html_clean), so the innermost named one in the chain."""
    named, seen = None, 0
    cause: BaseException | None = exc
    while cause is not None and seen < 20:
        if isinstance(cause, ImportError) and cause.name:
            named = cause.name
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return named or "a library"


_NAMES = {"html": "HTML", "pdf": "PDF", "docx": "DOCX", "text": "text", "markdown": "Markdown"}


def _extract(data: bytes, fmt: str, url: str | None) -> Extracted:
    if fmt == "html":
        from bot.core.documents.formats.html import extract_html

        return extract_html(data, url)
    if fmt == "pdf":
        from bot.core.documents.formats.pdf import extract_pdf

        return extract_pdf(data)
    if fmt == "docx":
        from bot.core.documents.formats.docx import extract_docx

        return extract_docx(data)
    from bot.core.documents.formats.text import extract_text

    return extract_text(data, fmt if fmt == "markdown" else "text")
