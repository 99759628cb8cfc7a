"""fetch() against a real HTTP server on 127.0.0.1: pages, PDFs, redirects, limits, failures."""

from __future__ import annotations

import contextlib
import functools
import gzip
import itertools
import re
import socket
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import __version__
from bot.core.documents.formats.inflate import inflated
from bot.core.documents.formats.web import (
    CODINGS,
    MAX_URL_BYTES,
    Fetched,
    charset_of,
    fetch,
    is_url,
    without_credentials,
)
from bot.core.errors import SourceError

PAGE = "<!DOCTYPE html><html><head><title>Tea</title></head><body><p>Green tea.</p></body></html>"
SERVED = {}  # /served/<key>: a route a property test adds for one example


def a_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Green tea is steamed.")
    return bytes(pdf.output())


PDF = a_pdf()


def send(h, status: int, ctype: str | None, body: bytes, **headers: str) -> None:
    h.send_response(status)
    if ctype is not None:
        h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()
    h.wfile.write(body)


def send_chunked(h, ctype: str, parts) -> None:
    h.send_response(200)
    h.send_header("Content-Type", ctype)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for part in parts:
        h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
    h.wfile.write(b"0\r\n\r\n")


def redirect(h, status: int, location: str) -> None:
    send(h, status, "text/html", b"<p>moved</p>", Location=location)


def trickle(h) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", "100")
    h.end_headers()
    for _ in range(100):  # a byte every 0.2 s: each read is quick, the whole is 20 s
        h.wfile.write(b"x")
        h.wfile.flush()
        time.sleep(0.2)


def trickle_headers(h) -> None:
    """The status line at once, then the headers a byte every 0.2 s for 20 s."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(100):
        h.wfile.write(b"X")
        h.wfile.flush()
        time.sleep(0.2)


def layered(chunks, times: int) -> bytes:
    """`chunks` gzip-compressed `times` times, streamed: never held uncompressed."""
    for _ in range(times):
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        chunks = [b"".join(packer.compress(c) for c in chunks) + packer.flush()]
    return chunks[0]


@functools.cache
def bomb() -> bytes:
    """About 3 KB that inflate to 1 GB of zeros through two layers of gzip."""
    return layered(itertools.repeat(bytes(2**20), 1024), 2)


def raw_deflate(text: str) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(text.encode()) + packer.flush()


ROUTES = {
    "/page": lambda h: send(h, 200, "text/html; charset=utf-8", PAGE.encode()),
    "/xhtml": lambda h: send(h, 200, "application/xhtml+xml", PAGE.encode()),
    "/doc.pdf": lambda h: send(h, 200, "application/pdf", PDF),
    "/notes.txt": lambda h: send(h, 200, "text/plain; charset=utf-8", b"Green tea.\n"),
    "/notes.md": lambda h: send(h, 200, "text/markdown", b"# Tea\n\nGreen.\n"),
    "/gzip": lambda h: send(
        h, 200, "text/html", gzip.compress(PAGE.encode()), Content_Encoding="gzip"
    ),
    "/agent": lambda h: send(h, 200, "text/plain", h.headers["User-Agent"].encode()),
    "/r1": lambda h: redirect(h, 301, "/r2"),
    "/r2": lambda h: redirect(h, 302, f"http://127.0.0.1:{h.server.server_port}/page"),
    "/loop": lambda h: redirect(h, 302, "/loop"),
    "/hop3": lambda h: redirect(h, 307, "/hop2"),
    "/hop2": lambda h: redirect(h, 307, "/hop1"),
    "/hop1": lambda h: redirect(h, 307, "/page"),
    "/to-ftp": lambda h: redirect(h, 302, "ftp://127.0.0.1/file"),
    "/to-bad-host": lambda h: redirect(h, 302, "http://xn--a.com/"),
    "/500": lambda h: send(h, 500, "text/html", b"<p>oops</p>"),
    "/big": lambda h: send(h, 200, "text/html", b"<p>" + b"x" * 5000 + b"</p>"),
    "/big-chunked": lambda h: send_chunked(h, "text/html", [b"x" * 400] * 10),
    "/image": lambda h: send(h, 200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(50)),
    "/json": lambda h: send(h, 200, "application/json", b'{"tea": "green"}'),
    "/octet-pdf": lambda h: send(h, 200, "application/octet-stream", PDF),
    "/octet-html": lambda h: send(h, 200, "application/octet-stream", PAGE.encode()),
    "/untyped-html": lambda h: send(h, 200, None, b"\n  <html><p>Tea.</p></html>"),
    "/octet-junk": lambda h: send(h, 200, "application/octet-stream", bytes(range(256))),
    "/empty": lambda h: send(h, 200, "text/html", b""),
    "/slow": trickle,
    "/slow-headers": lambda h: trickle_headers(h),
    "/bomb": lambda h: send(h, 200, "text/html", bomb(), Content_Encoding="gzip, gzip"),
    "/deflate-raw": lambda h: send(
        h, 200, "text/html", raw_deflate(PAGE), Content_Encoding="deflate"
    ),
    "/br": lambda h: send(h, 200, "text/html", b"\x0b\x02\x80", Content_Encoding="br"),
    "/gzip3": lambda h: send(h, 200, "text/html", b"x", Content_Encoding="gzip, gzip, gzip"),
    "/30mb": lambda h: send_chunked(h, "text/plain", itertools.repeat(b"tea " * 2**18, 30)),
    "/silent": lambda h: time.sleep(3),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.split("?")[0]
        route = ROUTES.get(path) or SERVED.get(path.removeprefix("/served/"))
        route = route or (lambda h: send(h, 404, "text/html", b"<p>no</p>"))
        try:
            route(self)
        except OSError:  # the client gave up (size limit, deadline): nothing to report
            self.close_connection = True

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass


@pytest.fixture(scope="module")
def base():
    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """A developer's proxy settings must not route requests for 127.0.0.1 elsewhere."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)


def refused(url: str, **limits) -> str:
    """fetch(url) fails: its one-line message, which names the URL and no Python class."""
    with pytest.raises(SourceError) as caught:
        fetch(url, **limits)
    message = str(caught.value)
    if url.strip().isprintable() and len(url) < 300:
        assert message.startswith(without_credentials(url) or "an empty address")
    assert message.isprintable()  # one line
    reason = message.rsplit(": ", 1)[-1]
    assert not re.search(r"httpx|httpcore|[A-Z][a-z]+(Error|Exception|Timeout)", reason)
    return message


def test_a_web_page_arrives_byte_for_byte(base):
    got = fetch(f"{base}/page")
    assert got == Fetched(f"{base}/page", PAGE.encode(), "html", "text/html; charset=utf-8")
    assert fetch(f"{base}/xhtml").format == "html"


def test_a_pdf_a_text_file_and_markdown(base):
    pdf = fetch(f"{base}/doc.pdf")
    assert (pdf.format, pdf.data, pdf.content_type) == ("pdf", PDF, "application/pdf")
    assert pdf.data.startswith(b"%PDF-")
    assert fetch(f"{base}/notes.txt").format == "text"
    assert fetch(f"{base}/notes.md").data == b"# Tea\n\nGreen.\n"
    assert fetch(f"{base}/notes.md").format == "markdown"


def test_a_compressed_body_arrives_decompressed(base):
    assert fetch(f"{base}/gzip").data == PAGE.encode()


def test_qabot_names_itself(base):
    assert fetch(f"{base}/agent").data.decode() == f"qabot/{__version__} (+offline document QA)"


def test_redirects_are_followed_and_the_final_url_reported(base):
    got = fetch(f"  {base}/r1  ")  # a pasted address's surrounding spaces do not matter
    assert (got.url, got.data) == (f"{base}/page", PAGE.encode())
    assert fetch(f"{base}/hop3", max_redirects=3).url == f"{base}/page"


def test_a_redirect_loop_or_too_long_a_chain_is_refused(base):
    assert "too many redirects (more than 5)" in refused(f"{base}/loop")
    assert "too many redirects (more than 2)" in refused(f"{base}/hop3", max_redirects=2)
    assert "redirected to an address that is not http" in refused(f"{base}/to-ftp")
    assert "not a valid web address" in refused(f"{base}/to-bad-host")


def test_an_address_httpx_cannot_encode_is_refused():
    assert is_url("http://xn--a.com/")  # well formed, but not valid punycode
    assert refused("http://xn--a.com/").endswith(": not a valid web address")


@pytest.mark.parametrize(
    ("path", "status"), [("/missing", "HTTP 404 Not Found"), ("/500", "HTTP 500 Internal")]
)
def test_http_errors_name_the_status(base, path, status):
    assert status in refused(f"{base}{path}")


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])  # with and without Content-Length
def test_a_body_over_the_limit_is_refused(base, path):
    message = refused(f"{base}{path}", max_bytes=1000)
    assert "larger than the 1000 bytes limit" in message
    # a declared length is refused before the body arrives, and says how large it was
    assert ("(5007 bytes)" in message) == (path == "/big")
    assert len(fetch(f"{base}{path}", max_bytes=6000).data) > 1000


@pytest.mark.parametrize(
    ("path", "ctype"), [("/image", "image/png"), ("/json", "application/json")]
)
def test_other_content_types_are_refused_by_name(base, path, ctype):
    assert f"the server sent {ctype}, not a web page" in refused(f"{base}{path}")


def test_untyped_bodies_are_recognised_by_their_first_bytes(base):
    assert fetch(f"{base}/octet-pdf").format == "pdf"
    assert fetch(f"{base}/octet-html").format == "html"
    assert fetch(f"{base}/untyped-html").format == "html"
    assert "sent application/octet-stream, not a web page" in refused(f"{base}/octet-junk")


def test_an_empty_body_is_refused(base):
    assert "empty body" in refused(f"{base}/empty")


@pytest.mark.parametrize("path", ["/slow", "/silent"])  # trickles a byte every 0.2 s; says nothing
def test_a_slow_server_cannot_outlast_the_deadline(base, path):
    start = time.monotonic()
    assert "timed out after 1 s" in refused(f"{base}{path}", timeout=1)
    assert time.monotonic() - start < 2.5


def test_network_failures_are_named(base):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert refused(f"http://127.0.0.1:{port}/").endswith(": connection refused")
    # TLS spoken to a plain HTTP server: a real handshake failure
    assert "the TLS handshake failed" in refused(base.replace("http:", "https:") + "/page")
    assert refused("http://nonexistent.invalid/").endswith("host name could not be resolved")


@pytest.mark.parametrize(
    "text",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/file",
        "javascript:alert(1)",
        "mailto:tea@example.com",
        "",
        "   ",
        "not a url",
        "http://",
        "http:///path",
        "https://exa mple.com/",
        "http://[::1/",
        "http://example.com:99999/",
        "www.example.com",
        "http://example.com/\nmore",
    ],
)
def test_only_http_and_https_addresses_are_fetched(text):
    assert not is_url(text)
    refused(text)


def test_is_url_accepts_web_addresses():
    for text in [
        "http://example.com",
        "HTTPS://Example.com/a?b=1#c",
        "http://[::1]:8080/x",
        "https://de.wikipedia.org/wiki/Straße",
        " http://127.0.0.1/ ",
    ]:
        assert is_url(text), text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_is_url_on_any_text(text):
    """Never raises; what it accepts is a single http(s) token; what it refuses is not fetched."""
    if is_url(text):
        token = text.strip()
        assert token.lower().startswith(("http://", "https://"))
        assert token.isprintable() and " " not in token
    else:
        start = time.monotonic()
        refused(text)
        assert time.monotonic() - start < 0.5  # refused before any network


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=40))
def test_any_path_on_a_real_server_is_fetched_or_refused(base, path):
    """Whatever follows the host, fetch() returns a document or raises SourceError."""
    with contextlib.suppress(SourceError):
        fetch(f"{base}/{path}", timeout=5)


_keys = itertools.count()


def served(base: str, route) -> str:
    """The URL of `route`, served until the next call."""
    SERVED.clear()
    key = str(next(_keys))
    SERVED[key] = route
    return f"{base}/served/{key}"


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126))
CONTENT_TYPES = st.sampled_from(["application/octet-stream", "", "text/html", "text/plain"])
NASTY_LOCATIONS = [
    "",
    " ",
    "ftp://127.0.0.1/",
    "javascript:alert(1)",
    "http://127.0.0.1:99999/",
    "http://xn--a.com/",
    "http://[::1/",
    "http:page",
    "?query",
    "#fragment",
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(CONTENT_TYPES, HEADER_TEXT), st.binary(max_size=300))
def test_any_body_of_any_declared_type_is_fetched_or_refused(base, ctype, body):
    url = served(base, lambda h: send(h, 200, ctype or None, body))
    try:
        got = fetch(url)
    except SourceError as exc:
        assert not body or ctype not in ("text/html", "text/plain"), exc
    else:
        assert got.data == body and got.format in ("html", "pdf", "text", "markdown")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(st.sampled_from(NASTY_LOCATIONS), HEADER_TEXT.map(lambda text: "/x" + text)))
def test_any_redirect_is_followed_or_refused(base, location):
    """A Location header of any kind: the page it leads to, or a SourceError, nothing else."""
    url = served(base, lambda h: redirect(h, 302, location))
    with contextlib.suppress(SourceError):
        fetch(url, timeout=5)


def test_headers_sent_a_byte_at_a_time_cannot_outlast_the_deadline(base):
    """Each read is quick, so httpx's own timeouts never trip: the deadline is the whole
    exchange's, headers included."""
    start = time.monotonic()
    assert "timed out after 1 s" in refused(f"{base}/slow-headers", timeout=1)
    assert time.monotonic() - start < 2.5


def test_a_compression_bomb_is_stopped_at_the_limit_not_inflated(base):
    """3 KB inflating to 1 GB through `gzip, gzip`: the decoded bytes are counted as they
    come, so it is refused at the limit having held one piece at a time."""
    import tracemalloc

    tracemalloc.start()
    try:
        # (a deadline of its own: tracemalloc slows the inflating, and this is about bytes)
        assert "larger than the 20 MB limit" in refused(f"{base}/bomb", timeout=120)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_URL_BYTES  # the kept body up to the limit, and no more


def test_codings_are_decoded_or_refused_by_name(base):
    assert fetch(f"{base}/deflate-raw").data == PAGE.encode()  # deflate without its header
    assert "encoded as br, not gzip or deflate" in refused(f"{base}/br")
    assert "compressed the body 3 times" in refused(f"{base}/gzip3")


def test_a_url_has_its_own_limit_whatever_the_file_limit(base):
    """The documented 20 MB for web pages, not the 200 MB of files."""
    from bot.core.documents.sources import load_document

    with pytest.raises(SourceError, match="larger than the 20 MB limit"):
        load_document(f"{base}/30mb")


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=5000) | st.builds(lambda n: bytes(n), st.integers(0, 400_000)),
    codings=st.lists(st.sampled_from(["gzip", "x-gzip", "deflate"]), max_size=2),
    cuts=st.lists(st.integers(1, 4000), max_size=8),
)
def test_any_payload_under_any_codings_decodes_exactly_in_bounded_pieces(payload, codings, cuts):
    """Whatever the ratio (random bytes barely shrink; zeros shrink a thousandfold) and
    however the network splits the body, decoding gives the payload back, never more than
    64 KB at a time."""
    body = payload
    for coding in codings:
        wbits = -zlib.MAX_WBITS if coding == "deflate" and len(body) % 2 else zlib.MAX_WBITS
        wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else wbits
        packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
        body = packer.compress(body) + packer.flush()
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(body[at : at + cut])
        at += cut
    pieces.append(body[at:])
    out = list(inflated(iter(pieces), [CODINGS[c] for c in codings]))
    assert b"".join(out) == payload
    if codings:  # (unencoded, the pieces are the network's own)
        assert all(len(piece) <= 64 * 1024 for piece in out)


# --- a password in the address, and the charset a text page declares ----------------------

AUTH = "Basic " + __import__("base64").b64encode(b"reader:s3cret-pw").decode()


def private(h) -> None:
    """A page behind HTTP basic authentication (user reader, password s3cret-pw)."""
    if h.headers.get("Authorization") == AUTH:
        send(h, 200, "text/plain; charset=utf-8", b"The vault opens at nine.\n")
    else:
        send(h, 401, "text/plain", b"who are you?", WWW_Authenticate='Basic realm="x"')


ROUTES["/private"] = private


def test_a_password_in_the_address_is_used_never_kept_or_shown(base):
    from bot.core.documents.sources import load_document, source_key

    host = base.removeprefix("http://")
    got = fetch(f"http://reader:s3cret-pw@{host}/private")
    assert got.data == b"The vault opens at nine.\n"
    assert got.url == f"{base}/private"  # the final address, without the password
    doc = load_document(f"http://reader:s3cret-pw@{host}/private")
    assert doc.source == source_key(f"http://reader:s3cret-pw@{host}/private") == got.url
    assert "s3cret" not in repr(doc)
    message = refused(f"http://reader:wrong-pw@{host}/private")
    assert message == f"{base}/private: HTTP 401 Unauthorized"
    assert "wrong-pw" not in refused(f"http://reader:wrong-pw@{host}:99999/private")


@settings(max_examples=200, deadline=None)
@given(
    user=st.text(max_size=12),
    password=st.text(min_size=1, max_size=12),
    host=st.sampled_from(["example.com", "127.0.0.1:8080", "[::1]:80"]),
    rest=st.sampled_from(["", "/", "/a/b?q=1#f", "?x=@y", "/p@q"]),
)
def test_credentials_of_any_spelling_are_dropped_and_nothing_else(user, password, host, rest):
    from urllib.parse import quote

    url = f"https://{quote(user, safe='')}:{quote(password, safe='')}@{host}{rest}"
    assert without_credentials(url) == f"https://{host}{rest}"
    assert without_credentials(f"https://{host}{rest}") == f"https://{host}{rest}"


@pytest.mark.parametrize(
    ("header", "codec"),
    [
        ("text/plain; charset=iso-8859-1", "iso8859-1"),
        ('text/plain; charset="Windows-1252"', "cp1252"),
        ("text/markdown;charset=koi8-r", "koi8-r"),
        ("text/plain", None),
        ("text/plain; charset=x-no-such-charset", None),
    ],
)
def test_the_declared_charset_is_read(header, codec):
    assert charset_of(header) == codec


# Texts each charset can hold: the printable characters of its bytes (UTF-16: any).
def _alphabet(charset: str) -> list[str]:
    out = []
    for byte in range(32, 256):
        try:
            char = bytes([byte]).decode(charset)
        except UnicodeDecodeError:
            continue
        if char.isprintable():
            out.append(char)
    return out


CHARSETS = ["iso-8859-1", "windows-1252", "koi8-r", "iso-8859-7"]
DECLARED_TEXTS = st.one_of(
    *(
        st.tuples(st.just(cs), st.text(st.sampled_from(_alphabet(cs)), min_size=1, max_size=60))
        for cs in CHARSETS
    ),
    st.tuples(
        st.just("utf-16-be"),
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(declared=DECLARED_TEXTS, kind=st.sampled_from(["text/plain", "text/markdown"]))
def test_a_text_page_is_read_in_the_charset_its_server_declares(base, declared, kind):
    """Any text in any charset, declared in Content-Type: the document's text is that text
    (not a UTF-8 error, not mojibake)."""
    from bot.core.documents.sources import load_document

    charset, extra = declared
    text = f"The harbour opens at nine and closes at six.\n\n{extra}\n"
    body = text.encode(charset)
    url = served(base, lambda h: send(h, 200, f"{kind}; charset={charset}", body))
    try:
        doc = load_document(url)
    except SourceError as exc:  # a page of headings or symbols only: no prose
        assert "no readable prose" in str(exc) or "is empty" in str(exc), exc
        return
    assert doc.text == text


def test_a_page_that_is_not_in_its_declared_charset_is_one_line(base):
    from bot.core.documents.sources import load_document

    body = "caf\xe9 cr\xe8me is served at nine.\n".encode("latin-1")
    url = served(base, lambda h: send(h, 200, "text/plain; charset=utf-8", body))
    with pytest.raises(SourceError) as caught:
        load_document(url)
    assert str(caught.value) == (
        f"{url}: not utf-8 text, as the server declared (invalid byte at offset 3)"
    )
    # An unknown charset is no declaration: UTF-8 (or a byte-order mark) decides.
    url = served(
        base,
        lambda h: send(h, 200, "text/plain; charset=x-nope", "Café at nine.\n".encode()),
    )
    assert load_document(url).text == "Café at nine.\n"
