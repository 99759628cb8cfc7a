"""Where documents come from: files (any supported format), folders of them, and web pages;
each read into a Document whose text is what citations quote.

Reading is bounded: only regular files (a FIFO would block forever, a device never ends),
at most `max_bytes` of them, and a URL through `bot.core.formats.web` with its own limits.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.core.documents import parse_paragraphs, slug
from bot.core.errors import SourceError
from bot.core.formats import extract, format_of, web
from bot.core.types import Document, Kind

MAX_SOURCE_BYTES = 200 * 1024 * 1024  # a document larger than this is refused, not read


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and web.is_url(source)


def check_source(source: str | Path, max_bytes: int = MAX_SOURCE_BYTES) -> None:
    """SourceError when a file source cannot be read (without reading it); URLs pass."""
    if not is_url(source):
        _stat(Path(source), max_bytes)


def _stat(path: Path, max_bytes: int) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceError(f"{path}: is a directory; add a folder with qabot index add")
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(f"{path}: not a regular file (a pipe, device or socket)")
    if info.st_size > max_bytes:
        raise SourceError(
            f"{path}: {info.st_size / 2**20:.0f} MB is over the {max_bytes / 2**20:.0f} MB limit"
        )


def read_bytes(path: Path, max_bytes: int = MAX_SOURCE_BYTES) -> bytes:
    """A regular file's bytes, or SourceError with a one-line reason."""
    _stat(path, max_bytes)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew while being read
        raise SourceError(f"{path}: over the {max_bytes / 2**20:.0f} MB limit")
    return data


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_digest(source: str) -> str:
    """The sha256 of a file source's bytes now (SourceError when it cannot be read)."""
    return digest(read_bytes(Path(source)))


def load_document(
    source: str | Path, doc_id: str | None = None, max_bytes: int = MAX_SOURCE_BYTES
) -> Document:
    """Read a file or URL into a Document; SourceError (one line, naming it) if it cannot be."""
    if is_url(source):
        # A web page has its own, smaller limit; a smaller limit for files lowers it too.
        fetched = web.fetch(str(source), max_bytes=min(max_bytes, web.MAX_URL_BYTES))
        data, fmt, where, name = fetched.data, fetched.format, str(source), _url_name(fetched.url)
        url: str | None = fetched.url
    else:
        path = Path(source)
        data, fmt, url = read_bytes(path, max_bytes), format_of(path.name) or "text", None
        where, name = str(path.resolve()), path.name
    try:
        extracted = extract(data, fmt, url)
    except SourceError as exc:
        raise SourceError(f"{source}: {exc}") from None
    if not extracted.text.strip():
        raise SourceError(f"{source}: the file is empty")
    paragraphs = parse_paragraphs(extracted.text)
    if not any(p.kind is Kind.CONTENT for p in paragraphs):
        raise SourceError(f"{source}: no readable prose found (only headings, captions or code)")
    return Document(
        source=where,
        doc_id=doc_id or slug(Path(name).stem),
        text=extracted.text,
        sha256=digest(data),
        paragraphs=tuple(paragraphs),
        name=name,
        format=extracted.format,
        pages=extracted.pages,
        title=extracted.title,
    )


def _url_name(url: str) -> str:
    """A web page's name in citations: its host and last path segment."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    last = [p for p in parts.path.split("/") if p]
    return f"{parts.hostname or 'page'}/{last[-1]}" if last else (parts.hostname or url)


def expand(source: str | Path) -> Iterator[tuple[str | Path, str | None]]:
    """A source as the files it stands for: (source, None) for a file or URL, and for a
    folder every supported file under it, sorted, with (path, reason) for each one skipped
    (hidden, or a format qabot does not read)."""
    if is_url(source) or not Path(source).is_dir():
        yield source, None
        return
    for folder, dirs, files in os.walk(Path(source)):
        for name in sorted(d for d in dirs if d.startswith(".")):
            yield Path(folder) / name, f"{Path(folder) / name}: skipped, a hidden folder"
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith("."):
                yield path, f"{path}: skipped, a hidden file"
            elif format_of(name) is None:
                yield path, f"{path}: skipped, not a format qabot reads"
            else:
                yield path, None


def source_key(source: str | Path) -> str:
    """How the index names a source: a URL as given, a file by its absolute path."""
    return str(source) if is_url(source) else str(Path(source).resolve())


def files_in(sources: Sequence[str | Path]) -> list[str | Path]:
    """The files and URLs `sources` stand for: folders expanded, skipped files left out."""
    return [s for src in sources for s, note in expand(src) if note is None]


def source_keys(sources: Sequence[str | Path]) -> list[str]:
    """The files and URLs `sources` stand for, as the index names them."""
    return [source_key(s) for s in files_in(sources)]
