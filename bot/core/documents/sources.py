"""Where documents come from: files (any supported format), folders of them, and web pages;
each read into a Document whose text is what citations quote.

Reading is bounded: only regular files (a FIFO would block forever, a device never ends),
at most `max_bytes` of them, and a URL through `bot.core.documents.formats.web` with its own limits.

The index records a file by its path and a page by its address, as UTF-8 text: a file whose
path is not UTF-8 (bytes from another encoding in its name) is refused with a line saying
so, and a URL is recorded without its user name and password.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.core.documents.formats import extract, format_of, unread_reason, web
from bot.core.documents.formats.text import decode
from bot.core.documents.paragraphs import parse_paragraphs, slug
from bot.core.errors import SourceError
from bot.core.types import Document, Kind

MAX_SOURCE_BYTES = 200 * 1024 * 1024  # a document larger than this is refused, not read


def is_url(source: str | Path) -> bool:
    """Whether `source` is meant as a web address (http:// or https://), valid or not: a bad
    one is refused as an address, never looked up as a file."""
    return isinstance(source, str) and web.looks_like_url(source)


def check_source(source: str | Path, max_bytes: int = MAX_SOURCE_BYTES) -> None:
    """SourceError when a source cannot be read (without reading it): a file that is not
    there or not readable, an address that is not a valid http(s) one."""
    if is_url(source):
        problem = web.url_problem(str(source))
        if problem is not None:
            raise SourceError(f"{shown(web.without_credentials(str(source)))}: {problem}")
    else:
        _stat(Path(source), max_bytes)


def shown(path: str | Path) -> str:
    """A path as a message shows it, on one line: the bytes of a name that is not UTF-8 as
    escapes (caf\\xe9.txt), and so are control characters (a newline: \\n), never lone
    surrogates that cannot be printed or written as UTF-8."""
    text = str(path)
    if not _is_utf8(text):
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_name(path: Path) -> None:
    """SourceError when `path`, as given or resolved, is not UTF-8: the index could not
    record it (and a citation could not name it)."""
    for text in (str(path), str(resolved(path))):
        if not _is_utf8(text):
            raise SourceError(
                f"{shown(text)}: the path is not UTF-8 text, so the index cannot record it; "
                "rename it (e.g. convmv -f latin1 -t utf-8 --notest NAME)"
            )


def _stat(path: Path, max_bytes: int) -> None:
    _check_name(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SourceError(f"{shown(path)}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{shown(path)}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceError(f"{shown(path)}: is a directory; add a folder with qabot index add")
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(f"{shown(path)}: not a regular file (a pipe, device or socket)")
    if info.st_size > max_bytes:
        raise SourceError(
            f"{shown(path)}: {info.st_size / 2**20:.0f} MB is over the "
            f"{max_bytes / 2**20:.0f} MB limit"
        )


def read_bytes(path: Path, max_bytes: int = MAX_SOURCE_BYTES) -> bytes:
    """A regular file's bytes, or SourceError with a one-line reason."""
    _stat(path, max_bytes)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{shown(path)}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew while being read
        raise SourceError(f"{shown(path)}: over the {max_bytes / 2**20:.0f} MB limit")
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
        data, fmt, name = fetched.data, fetched.format, _url_name(fetched.url)
        where = said = source_key(source)  # without a password, if it had one
        url: str | None = fetched.url
        charset = web.charset_of(fetched.content_type)
    else:
        path = Path(source)
        data, fmt, url = read_bytes(path, max_bytes), format_of(path.name) or "text", None
        where, name, said, charset = str(resolved(path)), path.name, shown(source), None
    sha256 = digest(data)
    try:
        if charset is not None and fmt in ("text", "markdown"):
            data = decode(data, charset).encode("utf-8")  # the server's charset, not a guess
        extracted = extract(data, fmt, url)
    except SourceError as exc:
        raise SourceError(f"{said}: {exc}") from None
    if not extracted.text.strip():
        raise SourceError(f"{said}: the file is empty")
    paragraphs = parse_paragraphs(extracted.text, extracted.format)
    if not any(p.kind is Kind.CONTENT for p in paragraphs):
        raise SourceError(f"{said}: no readable prose found (only headings, captions or code)")
    return Document(
        source=where,
        doc_id=doc_id or slug(Path(name).stem),
        text=extracted.text,
        sha256=sha256,
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
    (hidden, a format qabot does not read, or a name that is not UTF-8)."""
    if is_url(source) or not Path(source).is_dir() or not _is_utf8(source_key(source)):
        yield source, None  # read, or refused with its reason, as one source
        return
    for folder, dirs, files in os.walk(Path(source)):
        for name in sorted(d for d in dirs if d.startswith(".") or not _is_utf8(d)):
            path = Path(folder) / name
            why = "a hidden folder" if name.startswith(".") else _NOT_UTF8
            yield path, f"{shown(path)}: skipped, {why}"
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and _is_utf8(d))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith("."):
                yield path, f"{shown(path)}: skipped, a hidden file"
            elif format_of(name) is None:
                yield path, f"{shown(path)}: skipped, {unread_reason(name)}"
            elif not _is_utf8(name):
                yield path, f"{shown(path)}: skipped, {_NOT_UTF8}"
            else:
                yield path, None


_NOT_UTF8 = "its name is not UTF-8 text (rename it, e.g. convmv -f latin1 -t utf-8 --notest)"


def source_key(source: str | Path) -> str:
    """How the index names a source: a URL as given (without a user name and password), a
    file by its absolute path (symbolic links followed: one file, one key)."""
    if is_url(source):
        return web.without_credentials(str(source))
    return str(resolved(Path(source)))


def resolved(path: Path) -> Path:
    """`path` made absolute with symbolic links followed; only made absolute when a loop
    of links makes that impossible (reading it then fails, with its reason)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python 3.11's "Symlink loop"
        return Path(os.path.abspath(path))


def files_in(sources: Sequence[str | Path]) -> list[str | Path]:
    """The files and URLs `sources` stand for: folders expanded, skipped files left out."""
    return [s for src in sources for s, note in expand(src) if note is None]


def source_keys(sources: Sequence[str | Path]) -> list[str]:
    """The files and URLs `sources` stand for, as the index names them."""
    return [source_key(s) for s in files_in(sources)]
