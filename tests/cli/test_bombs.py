"""Compressed inputs of any ratio are refused before they are unpacked: the real command in a
process of its own, its peak memory measured against the same command refusing an empty
file. Target (issue 23): at most 300 MB above that baseline, one line, exit 1."""

from __future__ import annotations

import http.server
import itertools
import os
import subprocess
import sys
import threading
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import REPO

MB = 2**20
# Runs a command and prints its peak resident memory (kB on Linux) after its exit code.
PEAK = (
    "import resource, subprocess, sys;"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL);"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak(tmp_path: Path, *args: str) -> tuple[int, int, str]:
    """`qabot ARGS` in a fresh process: exit code, peak RSS in MB, stderr."""
    err = tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "QABOT_INDEX_DIR": str(tmp_path / "index")}
    with open(err, "w") as sink:
        done = subprocess.run(
            [sys.executable, "-c", PEAK, sys.executable, "-m", "bot", *args],
            env=env,
            stderr=sink,
            stdout=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    code, kilobytes = done.stdout.split()
    return int(code), int(kilobytes) // 1024, err.read_text()


def zeros_deflated(size: int, wbits: int = zlib.MAX_WBITS) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(packer.compress(bytes(MB)) for _ in range(size // MB)) + packer.flush()


def docx_bomb(path: Path) -> None:
    """A .docx whose document.xml declares (and unpacks to) 300 MB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            for _ in range(300):
                part.write(b" " * MB)


def pdf_bomb(path: Path, layers: int) -> None:
    """A PDF whose page content is a Flate stream (once or twice compressed) of 400 MB."""
    stream = zeros_deflated(400 * MB)
    for _ in range(layers - 1):
        stream = zlib.compress(stream, 9)
    filters = " ".join(["/FlateDecode"] * layers)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter [%s] >>\nstream\n%s\nendstream"
        % (len(stream), filters.encode(), stream),
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))


def serve_gzip_bomb() -> http.server.ThreadingHTTPServer:
    """3 KB that unpack to 1 GB through `Content-Encoding: gzip, gzip`."""
    once = zeros_deflated(1024 * MB, 16 + zlib.MAX_WBITS)
    body = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    body = body.compress(once) + body.flush()

    class Bomb(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip, gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bomb)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> int:
    """The same command's peak when it refuses an empty file at once."""
    folder = tmp_path_factory.mktemp("baseline")
    (folder / "empty.txt").write_bytes(b"")
    code, mb, err = peak(folder, "index", "add", str(folder / "empty.txt"))
    assert code == 1 and "empty" in err, err
    return mb


@pytest.mark.parametrize("kind", ["docx", "pdf-flate", "pdf-flate-twice", "url-gzip-gzip"])
def test_a_compression_bomb_is_refused_within_300_mb_of_the_baseline(tmp_path, baseline, kind):
    server = None
    if kind == "docx":
        source = tmp_path / "bomb.docx"
        docx_bomb(source)
        expected = "unpack to 300 MB, over the 128 MB limit"
    elif kind.startswith("pdf"):
        source = tmp_path / "bomb.pdf"
        pdf_bomb(source, layers=2 if kind.endswith("twice") else 1)
        expected = "unpack to over the 128 MB limit"
    else:
        server = serve_gzip_bomb()
        source = f"http://127.0.0.1:{server.server_port}/page.html"
        expected = "larger than the 20 MB limit"
    try:
        code, mb, err = peak(tmp_path, "index", "add", str(source))
    finally:
        if server is not None:
            server.shutdown()
    assert code == 1 and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert mb - baseline <= 300, f"peak {mb} MB against a baseline of {baseline} MB"
    assert not any(itertools.islice((tmp_path / "index").glob("data-*"), 1))
