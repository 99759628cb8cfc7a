"""Fetching a web page or PDF by its URL, for the HTML and PDF readers to extract.

httpx (already installed with python-telegram-bot) streams the body, so a size limit and a
total deadline can stop a download part way instead of after it. Redirects are followed here,
hop by hop, rather than by httpx: httpx reads each redirect's body whole, with no size limit.
Every failure becomes one SourceError line that names the URL and the problem.

Every byte is bounded before it is spent: the body is read raw and decompressed here, a
bounded piece at a time, with the decoded bytes counted against the limit (httpx inflates a
chunk whole: 3.5 KB of `gzip, gzip` became 4 GB); and each network read waits at most until
the whole exchange's deadline (a server sending its headers a byte a second is cut off when
the deadline passes, not when it stops).
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bot.core.documents.formats.deadline import deadline_transport
from bot.core.documents.formats.inflate import GZIP, ZLIB, inflated
from bot.core.errors import SourceError

MAX_URL_BYTES = 20 * 1024 * 1024  # a web page or PDF larger than this is refused
URL_TIMEOUT = 20.0  # seconds for the whole exchange: every hop, header and byte
# Content codings decoded (the request offers only these), and how many may be stacked:
# one is what servers send; a second is allowed, more is no document's need.
CODINGS = {"gzip": GZIP, "x-gzip": GZIP, "deflate": ZLIB}
MAX_CODINGS = 2

# Content types read as declared. Text and Markdown bodies stay bytes (their charset is in
# `content_type`): the caller decodes them as it decodes a local file.
DECLARED = {"text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf"}
DECLARED |= {"application/x-pdf": "pdf", "text/plain": "text", "text/markdown": "markdown"}
# Servers that do not know what they send say one of these; the first bytes then decide.
SNIFFED = {"", "application/octet-stream", "binary/octet-stream"}
_HTML_START = re.compile(
    rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|title)[\s>]", re.I | re.S
)


@dataclass(frozen=True)
class Fetched:
    """A downloaded document, not yet extracted."""

    url: str  # the final URL, after redirects
    data: bytes
    format: str  # "html", "pdf", "text" or "markdown"
    content_type: str  # as the server sent it (with its charset), "" if it sent none


def is_url(text: str) -> bool:
    """Whether `text` (surrounding whitespace aside) is an http:// or https:// address."""
    return looks_like_url(text) and url_problem(text) is None


def looks_like_url(text: str) -> bool:
    """Whether `text` is meant as a web address: it starts with http:// or https://, valid
    or not (`http://host:99999/` is a bad address, not a file name)."""
    return text.strip()[:8].lower().startswith(("http://", "https://"))


def url_problem(text: str) -> str | None:
    """Why `text` is not a web address qabot fetches, in a few words; None when it is one."""
    text = text.strip()
    if not text.isprintable() or " " in text:
        return "not a valid web address (it holds spaces or control characters)"
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port outside 0-65535
    except ValueError:
        return "not a valid web address (a bad port or host)"
    if parts.scheme.lower() not in ("http", "https"):
        return "not an http:// or https:// address"
    if not parts.hostname:
        return "not a valid web address (no host)"
    if port == 0:
        return "not a valid web address (port 0)"
    return None


def without_credentials(url: str) -> str:
    """`url` without a user name and password (`http://user:pass@host/` -> `http://host/`):
    what the index records and messages show. The password is never stored or printed."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    if parts is None and "@" in url:  # unparsable: drop everything up to the last @ of the host
        scheme, sep, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"
    return url


def charset_of(content_type: str) -> str | None:
    """The charset a Content-Type header declares (`text/plain; charset=iso-8859-1`), as
    Python names its codec; None when it declares none or one Python does not know."""
    import codecs
    from email.message import Message

    header = Message()
    header["content-type"] = content_type
    charset = header.get_content_charset()
    if not charset:
        return None
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def fetch(
    url: str, max_bytes: int = MAX_URL_BYTES, timeout: float = URL_TIMEOUT, max_redirects: int = 5
) -> Fetched:
    """Download `url`: a web page, a PDF or plain text, within `max_bytes` and `timeout` s."""
    import httpx

    url = url.strip()
    shown = _shown(url)
    problem = url_problem(url)
    if problem is not None:
        raise SourceError(f"{shown}: {problem}")
    try:
        return _fetch(url, max_bytes, timeout, max_redirects)
    except SourceError as exc:
        raise SourceError(f"{shown}: {exc}") from None
    # idna's UnicodeError escapes httpx for a host like "xn--a" (in the URL or a redirect)
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
        raise SourceError(f"{shown}: {_problem(exc, timeout)}") from None


def _fetch(url: str, max_bytes: int, timeout: float, max_redirects: int) -> Fetched:
    import httpx

    from bot import __version__

    deadline = time.monotonic() + timeout
    headers = {
        "User-Agent": f"qabot/{__version__} (+offline document QA)",
        "Accept-Encoding": ", ".join(CODINGS),
    }
    transport = deadline_transport(deadline)
    with httpx.Client(timeout=timeout, headers=headers, transport=transport) as client:
        request = client.build_request("GET", url)
        for _ in range(max_redirects + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceError(f"timed out after {timeout:g} s")
            request.extensions["timeout"] = httpx.Timeout(min(timeout, left)).as_dict()
            response = client.send(request, stream=True)
            try:
                if response.next_request is None:
                    return _take(response, max_bytes, deadline, timeout)
                request = response.next_request
            finally:
                response.close()  # an unread redirect body is dropped, not downloaded
    raise SourceError(f"too many redirects (more than {max_redirects})")


def _take(response, max_bytes: int, deadline: float, timeout: float) -> Fetched:
    """The body of the final response, if it is a document qabot reads."""
    import httpx

    if not response.is_success:
        status = response.status_code
        raise SourceError(f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip())
    content_type = response.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media not in DECLARED and media not in SNIFFED:
        raise SourceError(_not_a_document(media))  # refused before its body is downloaded
    codings = _codings(response.headers.get("content-encoding", ""))
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise SourceError(f"larger than the {_size(max_bytes)} limit ({_size(int(length))})")
    chunks, size = [], 0
    try:
        for chunk in inflated(response.iter_raw(), [CODINGS[c] for c in codings]):
            size += len(chunk)
            if size > max_bytes:
                raise SourceError(f"larger than the {_size(max_bytes)} limit")
            if time.monotonic() > deadline:
                raise SourceError(f"timed out after {timeout:g} s")
            chunks.append(chunk)
    except zlib.error:
        raise SourceError("the server sent a body that does not decompress") from None
    data = b"".join(chunks)
    kind = DECLARED.get(media) or _sniff(data)
    if kind is None:
        raise SourceError(_not_a_document(media))
    if not data:
        raise SourceError("the server sent an empty body")
    return Fetched(without_credentials(str(response.url)), data, kind, content_type)


def _codings(header: str) -> list[str]:
    """The content codings a Content-Encoding header lists, in the order they were applied;
    SourceError for one qabot does not decode or a stack deeper than MAX_CODINGS."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    unknown = [c for c in codings if c not in CODINGS]
    if unknown:
        raise SourceError(
            f"the server sent a body encoded as {unknown[0][:40]}, not gzip or deflate"
        )
    if len(codings) > MAX_CODINGS:
        raise SourceError(
            f"the server compressed the body {len(codings)} times (at most 2 are read)"
        )
    return codings


def _sniff(data: bytes) -> str | None:
    """The format a body's first bytes show ("pdf" or "html"), None for anything else."""
    head = data[:1024].removeprefix(b"\xef\xbb\xbf")
    if head.startswith(b"%PDF-"):
        return "pdf"
    return "html" if _HTML_START.match(head) else None


def _shown(url: str) -> str:
    """The address as the message quotes it: one printable line, however odd the input,
    without its password."""
    printable = "".join(c if c.isprintable() else " " for c in without_credentials(url))
    return " ".join(printable.split())[:300] or "an empty address"


def _not_a_document(media: str) -> str:
    return f"the server sent {media or 'an untyped body'}, not a web page, PDF or plain text"


def _size(n: int) -> str:
    return f"{n / 2**20:.3g} MB" if n >= 2**20 else f"{n} bytes"


def _problem(exc: Exception, timeout: float) -> str:
    """One line naming what went wrong on the network, in the user's terms."""
    import socket
    import ssl

    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, httpx.UnsupportedProtocol):  # the URL itself was checked: a redirect
        return "redirected to an address that is not http:// or https://"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection or sent a malformed reply"
    if isinstance(exc, httpx.DecodingError):
        return "the server sent a body that does not decompress"
    if isinstance(exc, httpx.InvalidURL | UnicodeError):
        return "not a valid web address"
    cause = exc
    for _ in range(10):  # httpx's error wraps httpcore's, which wraps the OS's or TLS's
        cause = cause.__cause__ or cause.__context__ or cause
    if isinstance(cause, ssl.SSLError):  # a certificate's failure says why, e.g. "self-signed"
        why = getattr(cause, "verify_message", None) or str(cause.reason or "unknown reason")
        return f"the TLS handshake failed ({why.replace('_', ' ').lower()})"
    if isinstance(cause, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(cause, OSError) and cause.strerror:  # "connection refused", "no route to host"
        return cause.strerror.lower()
    return "the connection failed"
