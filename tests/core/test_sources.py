"""Where documents come from: only regular files, bounded, any supported encoding of text;
folders expanded with a note for what is skipped; a build reports documents, then passages."""

from __future__ import annotations

import codecs
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.build import build_index
from bot.core.errors import SourceError
from bot.core.settings import ChunkerSettings
from bot.core.sources import expand, load_document, read_bytes
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
    for name in ("a.md", "sub/b.PDF", "c.html", "d.docx", "e.txt", "f.csv", ".hidden.md"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / ".cache" / "g.md").write_text("x", encoding="utf-8")
    found = list(expand(tmp_path))
    files = sorted(p.relative_to(tmp_path).as_posix() for p, note in found if note is None)
    assert files == ["a.md", "c.html", "d.docx", "e.txt", "sub/b.PDF"]
    notes = sorted(note.split(": ", 1)[1] for _, note in found if note)
    assert notes == [
        "skipped, a hidden file",
        "skipped, a hidden folder",
        "skipped, not a format qabot reads",
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
