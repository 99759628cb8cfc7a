"""Several documents of every format in one index: `qabot index add | remove | list`,
citations naming document and page or section, `ask --doc`, and web pages by URL (a real
HTTP server on 127.0.0.1). Real files, real model, real FAISS."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from bot.core.index.snapshot import read_manifest
from tests.conftest import ARTICLE, REPO, run_cli

FORMATS = REPO / "tests" / "data" / "formats"


@pytest.fixture
def folder(tmp_path) -> Path:
    """A user's folder: a PDF, a Word file, two Markdown files of one name, and what is
    skipped (a hidden file, a spreadsheet, a file that is not UTF-8)."""
    docs = tmp_path / "docs"
    (docs / "a").mkdir(parents=True)
    (docs / "b").mkdir()
    (docs / ".git").mkdir()
    shutil.copy(FORMATS / "two-pages.pdf", docs / "two-pages.pdf")
    shutil.copy(FORMATS / "guide.docx", docs / "guide.docx")
    (docs / "a" / "notes.md").write_text(
        "# Garden\n\n## Watering\n\nWater the tomatoes every morning before the sun is high, "
        "and never water the leaves.\n",
        encoding="utf-8",
    )
    (docs / "b" / "notes.md").write_text(
        "# Kitchen\n\n## Bread\n\nThe sourdough starter is fed with rye flour every evening "
        "and kept in the pantry.\n",
        encoding="utf-8",
    )
    (docs / ".git" / "config.md").write_text("# hidden\n\nNot a document.\n", encoding="utf-8")
    (docs / "budget.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (docs / "minutes.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me, said nobody.\n".encode("latin-1"))
    return docs


def test_add_a_folder_list_ask_and_remove(capsys, tmp_path, folder, monkeypatch):
    index = ["--index-dir", str(tmp_path / "index")]
    code, out, err = run_cli(capsys, *index, "index", "add", str(folder))
    assert code == 0, err
    assert "holds 4 documents" in out
    assert "budget.csv: skipped, a .csv file, not a format qabot reads (.txt, .md, " in err
    # the same way out as when the .doc is named on its own
    assert "minutes.doc: skipped, an old Word .doc file; qabot reads .docx: open it in" in err
    code, _, alone = run_cli(capsys, *index, "index", "add", str(folder / "minutes.doc"))
    assert code == 1 and "minutes.doc: an old Word .doc file" in alone
    assert "save it as .docx" in alone and "binary" not in alone
    assert "save it as .docx" in err
    assert ".git: skipped, a hidden folder" in err
    assert "latin1.txt: not UTF-8 text" in err and "left out" in err

    code, out, err = run_cli(capsys, *index, "index", "list", "--json")
    listed = {d["name"]: d for d in json.loads(out)}
    code, out, err = run_cli(capsys, *index, "index", "status")
    docx_size = (folder / "guide.docx").stat().st_size  # the file and its text, apart
    text_size = listed["guide.docx"]["bytes"]
    assert f"guide.docx (a {docx_size:,}-byte file, {text_size:,} bytes of text," in out
    assert set(listed) == {"two-pages.pdf", "guide.docx", "notes.md", "b/notes.md"}
    assert listed["two-pages.pdf"]["format"] == "pdf" and listed["two-pages.pdf"]["pages"] == 2
    assert listed["guide.docx"]["format"] == "docx" and listed["notes.md"]["chunks"] >= 1

    # A PDF passage is cited by page, a Markdown one by its section; text is exact.
    code, out, err = run_cli(capsys, *index, "ask", "--json", "What does the Calvin cycle fix?")
    answer = json.loads(out)
    [first, *_] = answer["citations"]
    assert (first["document"], first["locator"]) == ("two-pages.pdf", "p. 2"), answer
    record = _documents(tmp_path / "index")["two-pages.pdf"]
    assert record["text"][first["start"] : first["end"]] == first["text"]
    code, out, err = run_cli(capsys, *index, "ask", "When should I water the tomatoes?")
    assert "notes.md › Garden › Watering" in out

    # --doc keeps the search inside one document; an unknown name is one line, exit 1.
    code, out, err = run_cli(
        capsys, *index, "ask", "--json", "--doc", "b/notes.md", "When should I water?"
    )
    assert {c["document"] for c in json.loads(out)["citations"]} <= {"b/notes.md"}
    code, out, err = run_cli(capsys, *index, "ask", "--doc", "nope.pdf", "Anything?")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "nope.pdf" in err

    # a document may be named by its path too, as typed (here relative to where qabot runs)
    monkeypatch.chdir(folder)
    code, out, err = run_cli(capsys, *index, "index", "remove", "two-pages.pdf", "./b/notes.md")
    assert code == 0, err
    assert "holds 2 documents" in out
    code, out, err = run_cli(capsys, *index, "index", "list", "--jsonl")
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["guide.docx", "notes.md"]
    code, out, err = run_cli(capsys, *index, "index", "list", "--json")
    assert {d["name"] for d in json.loads(out)} == {"guide.docx", "notes.md"}
    code, out, err = run_cli(capsys, *index, "index", "remove", "guide.docx", "notes.md")
    assert code == 1 and "empty" in err
    code, out, err = run_cli(capsys, *index, "index", "remove", "nope.md")
    assert code == 1 and "nope.md" in err and "guide.docx" in err


def _documents(index_dir: Path) -> dict[str, dict]:
    """The documents of the current build, as the index's database keeps them."""
    import sqlite3

    with sqlite3.connect(index_dir / "index.db") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM documents WHERE build = (SELECT build FROM current)")
        documents = [dict(row) for row in rows]
    return {d["name"]: d | {"pages": json.loads(d["pages"])} for d in documents}


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is not the server's log
        pass


@pytest.fixture
def web(folder):
    """A real HTTP server on 127.0.0.1 serving the folder."""
    handler = lambda *a, **kw: _Files(*a, directory=str(folder), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()


def test_a_url_is_fetched_once_and_kept(capsys, tmp_path, web):
    base, server = web
    index = ["--index-dir", str(tmp_path / "index")]
    code, out, err = run_cli(capsys, *index, "index", "add", f"{base}/two-pages.pdf", str(ARTICLE))
    assert code == 0, err
    code, out, err = run_cli(capsys, *index, "index", "list", "--json")
    [pdf] = [d for d in json.loads(out) if d["format"] == "pdf"]
    assert pdf["path"] == f"{base}/two-pages.pdf" and pdf["name"] == "127.0.0.1/two-pages.pdf"
    server.shutdown()  # offline from here: the page is not fetched again
    code, out, err = run_cli(capsys, *index, "index", "remove", "article.txt")
    assert code == 0, err
    code, out, err = run_cli(capsys, *index, "ask", "--json", "What does the Calvin cycle fix?")
    assert code == 0, err
    assert json.loads(out)["citations"][0]["locator"] == "p. 2"
    code, out, err = run_cli(capsys, *index, "index", "add", f"{base}/missing.pdf")
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: nothing added: ")
    assert "missing.pdf" in err and "Traceback" not in err


def test_a_lost_manifest_is_reported_not_replaced_by_the_default_document(capsys, tmp_path):
    index = tmp_path / "index"
    garden = tmp_path / "garden.md"
    garden.write_text("# Garden\n\nWater the tomatoes every morning.\n", encoding="utf-8")
    assert run_cli(capsys, "--index-dir", str(index), "index", "add", str(garden))[0] == 0
    (index / "index.db").unlink()
    data = sorted(p.name for p in index.glob("data-*"))
    code, _out, err = run_cli(capsys, "--index-dir", str(index), "ask", "When to water?")
    assert code == 1 and "lost its index.db" in err and "index add" in err
    assert sorted(p.name for p in index.glob("data-*")) == data  # nothing deleted or built


def test_two_adds_at_once_both_land(tmp_path):
    """Two `qabot index add` processes at the same time: the second waits for the first's
    build and adds to its result, so neither document is lost."""
    import os
    import subprocess
    import sys

    docs = []
    for name, text in (
        ("garden.md", "Water the tomatoes every morning."),
        ("bread.md", "Feed the starter with rye flour."),
    ):
        path = tmp_path / name
        path.write_text(f"# {name}\n\n{text}\n", encoding="utf-8")
        docs.append(path)
    env = {**os.environ, "QABOT_INDEX_DIR": str(tmp_path / "index")}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "index", "add", str(doc)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for doc in docs
    ]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert any("waiting for another qabot" in err for _, err in results), results
    manifest = read_manifest(tmp_path / "index")
    assert sorted(s.name for s in manifest.sources) == ["bread.md", "garden.md"]


@pytest.mark.parametrize("damage", [b"", b"caf\xe9 au lait\n", b"\x00\x01binary"])
def test_a_source_that_became_unreadable_is_never_quoted_stale(capsys, tmp_path, damage):
    index = ["--index-dir", str(tmp_path / "index")]
    garden = tmp_path / "garden.md"
    garden.write_text("# Garden\n\nWater the tomatoes every morning.\n", encoding="utf-8")
    assert run_cli(capsys, *index, "index", "add", str(garden))[0] == 0
    garden.write_bytes(damage)  # emptied, not UTF-8, binary
    code, out, err = run_cli(capsys, *index, "index", "status", "--json")
    assert json.loads(out)["up_to_date"] is False
    code, out, err = run_cli(capsys, *index, "ask", "When should I water the tomatoes?")
    assert code == 1 and "garden.md" in err and "tomatoes" not in out


# Each format's reader and the library it cannot work without (imported through the reader).
READER_LIBRARIES = [
    (
        "page.html",
        "<html><body><h1>Dock</h1><p>The ferry leaves at noon.</p></body></html>",
        "lxml_html_clean",
    ),  # trafilatura -> justext -> lxml.html.clean: what pip 23 left out
    ("two-pages.pdf", None, "pypdfium2"),
    ("guide.docx", None, "docx"),
]


@pytest.mark.parametrize(("name", "html", "library"), READER_LIBRARIES)
def test_a_file_whose_reader_cannot_load_is_left_out_not_the_whole_add(
    tmp_path, name, html, library
):
    """An install that lacks a format's library (a real failed import in a real process, as
    after a pip that dropped an extra): that file is left out with its reason and the rest
    of the folder is indexed; no traceback, no "unexpected"."""
    import os
    import subprocess
    import sys

    blocked = tmp_path / "blocked" / library
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text(
        f'raise ImportError("No module named {library!r}", name={library!r})\n'
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    if html is None:
        shutil.copy(FORMATS / name, docs / name)
    else:
        (docs / name).write_text(html, encoding="utf-8")
    (docs / "notes.txt").write_text("The tomatoes are watered every morning.\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked.parent), str(REPO)])}
    index = ["--index-dir", str(tmp_path / "index")]
    add = subprocess.run(
        [sys.executable, "-m", "bot", "index", "add", str(docs), *index],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert add.returncode == 0, add.stderr
    assert "Traceback" not in add.stderr and "unexpected" not in add.stderr, add.stderr
    assert f"{name}: the " in add.stderr and f"({library} is not installed)" in add.stderr
    assert "left out" in add.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "bot", "index", "list", "--json", *index],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = [d["name"] for d in json.loads(listing.stdout)]
    assert names == ["notes.txt"], listing.stdout + listing.stderr


def _qabot(*args, **kwargs):
    """`qabot ARGS` as a real process; ARGS may be bytes (a file name that is not UTF-8)."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        **kwargs,
    )


def _one_error_line(result) -> str:
    err = result.stderr.decode("utf-8")  # printable UTF-8, whatever the name was
    assert result.returncode == 1, err
    assert "Traceback" not in err and "unexpected" not in err, err
    [line] = err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_a_file_name_that_is_not_utf8_is_refused_or_skipped_in_one_line(tmp_path):
    """A file named in Latin-1 (b"caf\\xe9.txt"): named on its own, one line and exit 1;
    in a folder, skipped with one line while the rest is indexed."""
    import os

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("The ferry leaves the harbour at noon.\n", encoding="utf-8")
    latin = os.fsencode(docs) + b"/caf\xe9.txt"
    with open(latin, "wb") as fh:
        fh.write(b"The cafe opens at nine every morning.\n")
    index = [b"--index-dir", os.fsencode(tmp_path / "index")]
    line = _one_error_line(_qabot(*index, b"index", b"add", latin))
    assert "caf\\xe9.txt: the path is not UTF-8 text" in line and "rename it" in line
    added = _qabot(*index, b"index", b"add", os.fsencode(docs))
    err = added.stderr.decode("utf-8")
    assert added.returncode == 0, err
    assert "caf\\xe9.txt: skipped, its name is not UTF-8 text" in err and "Traceback" not in err
    listing = _qabot(*index, b"index", b"list", b"--json")
    assert [d["name"] for d in json.loads(listing.stdout)] == ["notes.txt"]


def test_an_index_folder_whose_name_is_not_utf8_is_refused_in_one_line(tmp_path):
    import os

    (tmp_path / "notes.txt").write_text("The ferry leaves at noon.\n", encoding="utf-8")
    index = os.fsencode(tmp_path) + b"/index-\xff"
    line = _one_error_line(
        _qabot(b"--index-dir", index, b"index", b"add", b"notes.txt", cwd=tmp_path)
    )
    assert "index-\\xff has a name that is not UTF-8 text" in line and "--index-dir" in line
    assert not os.path.exists(index + b"/index.db")


def test_one_file_named_twice_or_through_its_folder_or_a_link_is_one_document(capsys, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    notes = docs / "notes.txt"
    notes.write_text("The ferry leaves the harbour at noon.\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(notes)
    index = ["--index-dir", str(tmp_path / "index")]
    code, out, err = run_cli(capsys, *index, "index", "add", str(notes), str(notes))
    assert code == 0 and "holds 1 document," in out, err
    args = (str(docs), str(tmp_path / "link.txt"), str(notes))
    code, out, err = run_cli(capsys, *index, "index", "add", *args)
    assert code == 0 and "holds 1 document," in out, err
    code, out, err = run_cli(capsys, *index, "index", "list", "--json")
    [only] = json.loads(out)
    assert (only["name"], only["path"]) == ("notes.txt", str(notes))


def test_a_kept_document_keeps_its_name_when_another_is_removed(capsys, tmp_path, folder):
    """`index remove notes.md` once renamed b/notes.md to notes.md: a name the user has
    seen (and scripted) never changes while its document stays."""
    index = ["--index-dir", str(tmp_path / "index")]
    assert run_cli(capsys, *index, "index", "add", str(folder))[0] == 0
    code, out, err = run_cli(capsys, *index, "index", "remove", "notes.md")
    assert code == 0, err
    code, out, err = run_cli(capsys, *index, "index", "list", "--json")
    names = {d["name"]: d["path"] for d in json.loads(out)}
    assert names["b/notes.md"] == str(folder / "b" / "notes.md") and "notes.md" not in names
    # Added back, the removed one is told apart from the one that stayed.
    assert run_cli(capsys, *index, "index", "add", str(folder / "a" / "notes.md"))[0] == 0
    code, out, err = run_cli(capsys, *index, "index", "list", "--json")
    names = {d["name"]: d["path"] for d in json.loads(out)}
    assert names["b/notes.md"] == str(folder / "b" / "notes.md")
    assert names["notes.md"] == str(folder / "a" / "notes.md")


class _Private(http.server.BaseHTTPRequestHandler):
    """A Latin-1 text page behind HTTP basic authentication (reader / s3cret-pw)."""

    def do_GET(self):
        import base64

        if (
            self.headers.get("Authorization")
            != "Basic " + base64.b64encode(b"reader:s3cret-pw").decode()
        ):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="notes"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = "The caf\xe9 serves cr\xe8me br\xfbl\xe9e every evening at nine.\n".encode("latin-1")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=iso-8859-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_password_in_a_url_is_never_stored_and_its_charset_is_read(capsys, tmp_path):
    """`index add http://user:pass@host/page`: fetched with the password, recorded and
    shown without it (nowhere in the index folder); its declared Latin-1 read as such."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Private)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        index = ["--index-dir", str(tmp_path / "index")]
        url = f"http://reader:s3cret-pw@{host}/notes.txt"
        code, out, err = run_cli(capsys, *index, "index", "add", url)
        assert code == 0, err
        outputs = [out + err]
        for args in (["index", "list"], ["index", "list", "--json"], ["index", "status"]):
            code, out, err = run_cli(capsys, *index, *args)
            outputs.append(out + err)
        [doc] = json.loads(outputs[2])
        assert doc["path"] == f"http://{host}/notes.txt"
        code, out, err = run_cli(capsys, *index, "ask", "What does the café serve?")
        assert "crème brûlée" in out, out + err
        outputs.append(out + err)
        code, out, err = run_cli(
            capsys, *index, "index", "add", f"http://reader:wrong-pw@{host}/notes.txt"
        )
        assert code == 1 and f"http://{host}/notes.txt: HTTP 401" in err
        outputs.append(out + err)
    finally:
        server.shutdown()
    for text in outputs:
        assert "s3cret" not in text and "wrong-pw" not in text
    for path in (tmp_path / "index").rglob("*"):
        if path.is_file():
            assert b"s3cret" not in path.read_bytes(), path


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "https://example.com:-1/page"])
def test_a_url_with_a_bad_port_is_a_bad_url_not_a_missing_file(capsys, tmp_path, url):
    code, _out, err = run_cli(capsys, "--index-dir", str(tmp_path / "index"), "index", "add", url)
    assert code == 1 and "Traceback" not in err
    assert err.strip() == f"error: {url}: not a valid web address (a bad port or host)"


def test_a_deleted_source_is_named_on_ask_and_status_and_dropped_by_a_rebuild(capsys, tmp_path):
    index = ["--index-dir", str(tmp_path / "index")]
    garden, bread = tmp_path / "garden.md", tmp_path / "bread.md"
    garden.write_text("# Garden\n\nWater the tomatoes every morning.\n", encoding="utf-8")
    bread.write_text("# Bread\n\nFeed the starter with rye flour.\n", encoding="utf-8")
    assert run_cli(capsys, *index, "index", "add", str(garden), str(bread))[0] == 0
    garden.unlink()
    code, out, err = run_cli(capsys, *index, "ask", "When should I water the tomatoes?")
    assert code == 0 and "garden.md no longer exists" in err
    code, out, err = run_cli(capsys, *index, "index", "status")
    assert f"{garden} no longer exists" in out
    code, out, err = run_cli(capsys, *index, "index", "rebuild")
    assert code == 0 and f"{garden}: no such file; left out" in err
    code, out, err = run_cli(capsys, *index, "index", "list", "--json")
    assert [d["name"] for d in json.loads(out)] == ["bread.md"]
    code, out, err = run_cli(capsys, *index, "ask", "--json", "When should I water the tomatoes?")
    assert code == 0 and "no longer exists" not in err
    assert {c["document"] for c in json.loads(out)["citations"]} <= {"bread.md"}


def test_a_killed_builds_leftovers_go_when_the_lock_is_next_taken(capsys, tmp_path):
    """A build killed mid-way (SIGKILL: no clean-up runs) leaves its staging folder; the
    next build removes it as it takes the lock, even when that build fails itself."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    index = tmp_path / "index"
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/page"
        build = subprocess.Popen(
            [sys.executable, "-m", "bot", "--index-dir", str(index), "index", "add", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        deadline = time.monotonic() + 120
        # Killed while it reads its documents: its staging folder made, its rows not committed.
        while not list(index.glob(".build-*")) and time.monotonic() < deadline:
            assert build.poll() is None, "the build ended before it could be killed"
            time.sleep(0.05)
        os.kill(build.pid, signal.SIGKILL)
        build.wait()
    [left] = index.glob(".build-*")
    (tmp_path / "empty.txt").write_bytes(b"")
    code, _out, err = run_cli(capsys, "--index-dir", str(index), "index", "add", "empty.txt")
    assert code == 1 and "empty.txt: the file is empty" in err
    assert not left.exists() and not list(index.glob(".build-*"))


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02 binary"])
def test_a_failed_first_add_leaves_no_index_folder(capsys, tmp_path, content):
    """An empty or unreadable file, or a typo, added to an index that does not exist yet:
    one line, exit 1, and no half-made index folder left behind to puzzle over."""
    bad = tmp_path / "notes.txt"
    bad.write_bytes(content)
    for index in (tmp_path / "new", tmp_path / "deeper" / "new"):
        for source in (str(bad), str(tmp_path / "typo.txt")):
            code, _, err = run_cli(capsys, "--index-dir", str(index), "index", "add", source)
            assert code == 1 and len(err.strip().splitlines()) == 1, err
            assert not index.exists()
    kept = tmp_path / "kept"  # a folder the user made for it stays, empty as it was
    kept.mkdir()
    code, _, err = run_cli(capsys, "--index-dir", str(kept), "index", "add", str(bad))
    assert code == 1 and kept.is_dir()


def test_the_demo_article_says_so_until_the_users_documents_replace_it(
    capsys, tmp_path, article_index_dir
):
    index = tmp_path / "index"
    shutil.copytree(article_index_dir, index)
    ambassador = "Who is China's ambassador to Japan?"
    code, out, err = run_cli(capsys, "ask", "--index-dir", str(index), ambassador)
    assert code == 0 and "Cheng Yonghua" in out
    assert "Answered from the bundled demo article" in err and "qabot index add FILE" in err
    code, out, err = run_cli(capsys, "ask", "--index-dir", str(index), "--json", ambassador)
    assert code == 0 and json.loads(out)["answer"] and err == ""  # scripts get data alone

    kept = tmp_path / "kept"
    shutil.copytree(article_index_dir, kept)
    notes = tmp_path / "notes.txt"
    notes.write_text("The lighthouse keeper lit the lamp at dusk every evening.\n")
    code, out, err = run_cli(
        capsys, "index", "add", "--index-dir", str(kept), "--keep-demo", str(notes)
    )
    assert code == 0 and "holds 2 documents" in out and "demo" not in err

    code, out, err = run_cli(capsys, "--index-dir", str(index), "index", "add", str(notes))
    assert code == 0 and "holds 1 document," in out
    assert "The demo article is replaced by your documents" in err and "--keep-demo" in err
    code, out, err = run_cli(capsys, "ask", "--index-dir", str(index), "Who lit the lamp?")
    assert code == 0 and "lighthouse keeper" in out and "demo" not in err


def test_the_repl_banner_names_a_few_documents_then_how_many_more():
    from bot.cli.repl import banner_names

    assert banner_names(["a.md"]) == "a.md"
    five = [f"{c}.md" for c in "abcde"]
    assert banner_names(five) == "a.md, b.md, c.md, d.md, e.md"
    assert (
        banner_names([*five, "f.md", "g.md"]) == "a.md, b.md, c.md, d.md, e.md and 2 more (:docs)"
    )
