"""Where documents come from: only regular files, bounded, any supported encoding of text;
folders expanded with a note for what is skipped; a build reports documents, then passages."""

from __future__ import annotations

import codecs
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.documents.sources import (
    check_source,
    expand,
    is_url,
    load_document,
    read_bytes,
    source_key,
)
from bot.core.errors import SourceError
from bot.core.index.build import build_index
from bot.core.settings import ChunkerSettings
from tests.conftest import ARTICLE, REPO

PROSE = "The lighthouse keeper climbed the stairs every evening. He lit the lamp at dusk."
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"),
    min_size=1,
    max_size=200,
).filter(str.strip)


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=TEXT)
def test_text_with_a_byte_order_mark_reads_as_its_text(tmp_path, bom, codec, extra):
    path = tmp_path / "doc.txt"
    text = f"{PROSE}\n\n{extra}\n"
    path.write_bytes(bom + text.encode(codec))
    assert load_document(path).text == text  # offsets are into the text, the mark not in it


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.integers(0, 30_000))
def test_a_nul_byte_anywhere_means_binary(tmp_path, before):
    body = (PROSE + "\n") * (before // len(PROSE) + 1)
    path = tmp_path / "doc.txt"
    path.write_bytes(body[:before].encode() + b"\x00" + body.encode())
    with pytest.raises(SourceError, match="binary"):
        load_document(path)


def test_only_regular_files_are_read_and_within_the_limit(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file"):
        load_document(fifo)  # would block forever if opened
    with pytest.raises(SourceError, match="not a regular file"):
        load_document("/dev/zero")  # would never end
    big = tmp_path / "big.txt"
    big.write_text(PROSE * 100, encoding="utf-8")
    with pytest.raises(SourceError, match="over the"):
        read_bytes(big, max_bytes=1000)
    with pytest.raises(SourceError, match="is a directory"):
        load_document(tmp_path)


def test_a_folder_expands_to_its_supported_files_with_a_note_for_the_rest(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".cache").mkdir()
    names = ("a.md", "sub/b.PDF", "c.html", "d.docx", "e.txt", "f.csv", "g.DOC", ".hidden.md")
    for name in names:
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / ".cache" / "g.md").write_text("x", encoding="utf-8")
    found = list(expand(tmp_path))
    files = sorted(p.relative_to(tmp_path).as_posix() for p, note in found if note is None)
    assert files == ["a.md", "c.html", "d.docx", "e.txt", "sub/b.PDF"]
    notes = sorted(note.split(": ", 1)[1] for _, note in found if note)
    assert notes == [
        "skipped, a .csv file, not a format qabot reads (.txt, .md, .html, .pdf, .docx)",
        "skipped, a hidden file",
        "skipped, a hidden folder",
        "skipped, an old Word .doc file; qabot reads .docx: open it in Word or LibreOffice "
        "and save it as .docx",
    ]


class Recorder:
    """A Progress that remembers its phases (the protocol a terminal bar implements)."""

    def __init__(self):
        self.phases: list[tuple[int, str]] = []
        self.advanced = 0

    def start(self, total: int, description: str) -> None:
        self.phases.append((total, description))

    def advance(self, n: int) -> None:
        self.advanced += n


def test_a_build_reports_documents_then_passages(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(ARTICLE, docs / "article.txt")
    shutil.copy(REPO / "tests" / "data" / "formats" / "two-pages.pdf", docs)
    (docs / "broken.txt").write_bytes(b"\xff\xfe\x00bad")
    notes: list[str] = []
    progress = Recorder()
    manifest = build_index(
        [docs], tmp_path / "index", embedder, ChunkerSettings(), progress, notes.append
    )
    (reading, _), (_, embedding) = progress.phases
    assert reading == 3 and embedding.startswith(f"Embedding {manifest.chunk_count} passages")
    assert [s.name for s in manifest.sources] == ["article.txt", "two-pages.pdf"]
    assert list(manifest.skipped) == [str((docs / "broken.txt").resolve())]
    assert any("broken.txt" in n and "left out" in n for n in notes)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from(
            [b"%PDF-1.7\n", b"PK\x03\x04", b"<html><body>", b"\xff\xfe", b"\xef\xbb\xbf"]
        ).flatmap(lambda head: st.binary(max_size=200).map(lambda tail: head + tail)),
    ),
    suffix=st.sampled_from([".txt", ".md", ".html", ".pdf", ".docx", ""]),
)
def test_any_bytes_load_or_are_refused_in_one_line(tmp_path, data, suffix):
    """Whatever a file holds and whatever its name says: a Document whose offsets frame its
    own text, or a SourceError with one line that names the file."""
    path = tmp_path / f"doc{suffix}"
    path.write_bytes(data)
    try:
        doc = load_document(path)
    except SourceError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert "\x00" not in doc.text and doc.paragraphs
    for p in doc.paragraphs:
        assert 0 <= p.start < p.end <= len(doc.text)
        assert all(p.start <= s < e <= p.end for s, e in p.sentences)


# File names of any bytes a Linux file name may hold: no "/", no NUL, not "." or "..".
NAME_BYTES = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stem=NAME_BYTES)
@example(stem=b"caf\xe9")
@example(stem=b"\xed\xa0\x80")  # a surrogate in UTF-8's form: not UTF-8
def test_a_file_name_of_any_bytes_is_indexed_or_left_out_in_one_line(tmp_path, embedder, stem):
    """A folder holding a file of any name, beside a good one: the build records the file
    by its name when that is UTF-8, else leaves it out with one printable line; the
    manifest is written either way. Named on its own, it is read or refused in one line."""
    import tempfile

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "good.txt").write_text(PROSE, encoding="utf-8")
    raw = os.fsencode(folder) + b"/" + stem + b".txt"
    with open(raw, "wb") as fh:
        fh.write(b"The harbour master rings the bell at noon. The ferry leaves after it.\n")
    path = Path(os.fsdecode(raw))
    name = os.fsdecode(stem + b".txt")
    notes: list[str] = []
    manifest = build_index(
        [folder], folder / "index", embedder, ChunkerSettings(), None, notes.append
    )
    from bot.core.index.snapshot import read_manifest

    names = sorted(s.name for s in read_manifest(folder / "index").sources)
    if stem.startswith(b"."):
        assert names == ["good.txt"]  # a hidden file
    elif _decodes(stem):
        assert names == sorted(["good.txt", name]) and str(path) in {
            s.path for s in manifest.sources
        }
    else:
        assert names == ["good.txt"]
        [note] = [n for n in notes if "not UTF-8" in n]
        assert "\n" not in note and note.encode("utf-8") and "skipped" in note
    for note in notes:
        note.encode("utf-8")  # printable as it is: no lone surrogates
    try:
        doc = load_document(path)
    except SourceError as exc:
        message = str(exc)
        assert not _decodes(stem) and "not UTF-8" in message
        assert "\n" not in message and message.encode("utf-8")
    else:
        assert _decodes(stem) and doc.name == name


def test_a_folder_whose_own_path_is_not_utf8_is_refused_in_one_line(tmp_path):
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    (folder / "notes.txt").write_text(PROSE, encoding="utf-8")
    assert list(expand(folder)) == [(folder, None)]  # refused as one source, not walked
    for source in (folder, folder / "notes.txt"):
        with pytest.raises(SourceError, match=r"caf\\xe9.*not UTF-8") as caught:
            check_source(source)
        assert "\n" not in str(caught.value)


def test_one_file_named_many_ways_is_one_document(tmp_path, embedder):
    """Twice, through its folder, by a relative path and through a symbolic link: one file
    is one document (the first naming gives its name)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    notes = docs / "notes.txt"
    notes.write_text(PROSE, encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(notes)
    (docs / "other.md").write_text("# Other\n\nThe ferry leaves at noon.\n", encoding="utf-8")
    os.chdir(docs)
    manifest = build_index(
        [notes, notes, docs, "notes.txt", tmp_path / "link.txt"],
        tmp_path / "index",
        embedder,
        ChunkerSettings(),
    )
    assert [s.name for s in manifest.sources] == ["notes.txt", "other.md"]
    assert [s.path for s in manifest.sources] == [str(notes), str(docs / "other.md")]
    assert source_key(tmp_path / "link.txt") == source_key("notes.txt") == str(notes)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    folders=st.lists(
        st.sampled_from(["a", "b", "c", "a/b", "b/a", "x/a", "c/a/b"]), min_size=2, unique=True
    ),
    data=st.data(),
)
def test_kept_documents_keep_their_names(tmp_path, embedder, folders, data):
    """Files of one name in several folders, all indexed, then some removed and others
    added back: every document has a name of its own, and one that was kept never
    changes (nor its id)."""
    import tempfile

    root = Path(tempfile.mkdtemp(dir=tmp_path))
    files = []
    for i, folder in enumerate(folders):
        (root / folder).mkdir(parents=True, exist_ok=True)
        path = root / folder / "notes.md"
        path.write_text(f"# Notes {i}\n\nThe ferry number {i} leaves at {i} o'clock.\n")
        files.append(path)
    index = root / "index"
    first = build_index(files, index, embedder, ChunkerSettings())
    kept = data.draw(st.lists(st.sampled_from(files), min_size=1, unique=True))
    added = data.draw(st.lists(st.sampled_from(files), unique=True))
    second = build_index([*kept, *added], index, embedder, ChunkerSettings())
    for build in (first, second):
        assert len({s.name for s in build.sources}) == len(build.sources)
        assert len({s.doc_id for s in build.sources}) == len(build.sources)
    before = {s.path: (s.name, s.doc_id) for s in first.sources}
    for source in second.sources:
        if Path(source.path) in kept:
            assert (source.name, source.doc_id) == before[source.path]


@settings(max_examples=50, deadline=None)
@given(
    port=st.integers(65536, 10**12) | st.sampled_from(["x", "-1", "8o", ""]).filter(bool),
    host=st.sampled_from(["host", "127.0.0.1", "example.com"]),
    scheme=st.sampled_from(["http", "https", "HTTP"]),
)
def test_a_web_address_with_a_bad_port_is_refused_as_an_address(port, host, scheme):
    """`http://host:99999/` is a bad web address, not a file name to look up."""
    url = f"{scheme}://{host}:{port}/page"
    assert is_url(url)
    with pytest.raises(SourceError) as caught:
        check_source(url)
    assert str(caught.value) == f"{url}: not a valid web address (a bad port or host)"
    with pytest.raises(SourceError, match="not a valid web address"):
        load_document(url)
