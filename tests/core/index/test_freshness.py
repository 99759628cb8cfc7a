"""Whether an index matches its sources: a file is hashed only when `stat` says something new
of it, a touched file is hashed once (and what `stat` says then recorded), and every edit,
of the same size or under the old mtime, still makes the index stale."""

from __future__ import annotations

import fcntl
import json
import os
import shutil

import pytest

from bot.core.index import freshness
from bot.core.index.build import build_index
from bot.core.index.freshness import RACY_NS, Seen, settled, staleness
from bot.core.index.record import manifest_sha256, parse_manifest
from bot.core.index.snapshot import MANIFEST, read_manifest
from bot.core.index.store import IndexStore
from bot.core.settings import ChunkerSettings
from bot.core.types import SCHEMA_VERSION

TEXT = "The lighthouse keeper lit the lamp at dusk every evening.\n"
# The same number of bytes, other words: what a size check alone would miss.
EDITED = TEXT.replace("lamp", "fire")


@pytest.fixture
def trusted_at_once(monkeypatch):
    # A file's times are trusted once they are RACY_NS old; these tests do not wait for it.
    monkeypatch.setattr(freshness, "RACY_NS", 0)


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The sources hashed to tell whether the index is stale, as they are hashed."""
    calls: list[str] = []
    real = freshness.source_digest

    def counting(path: str) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(freshness, "source_digest", counting)
    return calls


@pytest.fixture
def built(tmp_path, embedder):
    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT, encoding="utf-8")
    index_dir = tmp_path / "idx"
    return doc, index_dir, build_index([doc], index_dir, embedder, ChunkerSettings())


def _open(index_dir, embedder, messages=None):
    notify = (messages if messages is not None else []).append
    return IndexStore(index_dir).open_updated(embedder, ChunkerSettings(), None, [], notify=notify)


def _stale(manifest, doc, embedder):
    return staleness(manifest, [doc], embedder.name, ChunkerSettings())


def test_a_build_records_what_stat_said_of_each_file(trusted_at_once, built):
    doc, _, manifest = built
    [source] = manifest.sources
    info = doc.stat()
    assert (source.file_size, source.mtime_ns, source.ctime_ns) == (
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    )


def test_an_unchanged_source_is_not_read_to_open_the_index(
    trusted_at_once, built, embedder, hashed
):
    _, index_dir, manifest = built
    index = _open(index_dir, embedder)
    assert hashed == [] and index.manifest == manifest


def test_a_touched_source_is_hashed_once_and_is_not_stale(trusted_at_once, built, embedder, hashed):
    doc, index_dir, manifest = built
    # touch -d, to a time in the past (one in the future is never trusted: see RACY_NS)
    earlier = doc.stat().st_mtime_ns - 5 * 10**9
    os.utime(doc, ns=(earlier, earlier))
    assert _stale(manifest, doc, embedder) == []
    hashed.clear()

    messages: list[str] = []
    index = _open(index_dir, embedder, messages)
    assert messages == [] and index.manifest.build_id == manifest.build_id  # not rebuilt
    assert hashed == [str(doc.resolve())]
    # What stat says now is recorded, so the next opening reads nothing.
    [source] = read_manifest(index_dir).sources
    assert (source.mtime_ns, source.ctime_ns) == (earlier, doc.stat().st_ctime_ns)
    assert source.sha256 == manifest.sources[0].sha256 and index.manifest == read_manifest(
        index_dir
    )
    hashed.clear()
    _open(index_dir, embedder)
    assert hashed == []


def test_an_edit_that_keeps_the_size_makes_the_index_stale(trusted_at_once, built, embedder):
    doc, index_dir, manifest = built
    later = doc.stat().st_mtime_ns + 5 * 10**9
    doc.write_text(EDITED, encoding="utf-8")
    os.utime(doc, ns=(later, later))
    assert doc.stat().st_size == manifest.sources[0].file_size
    assert _stale(manifest, doc, embedder) == [f"{doc.resolve()} changed since the index was built"]
    messages: list[str] = []
    index = _open(index_dir, embedder, messages)
    assert "out of date" in messages[0] and "fire" in index.chunks[0].text


def test_new_bytes_under_the_old_mtime_make_the_index_stale(trusted_at_once, built, embedder):
    # cp -p, tar and touch -d can set a file's mtime back; nothing but the kernel sets its
    # ctime, which every write changes.
    doc, _, manifest = built
    before = doc.stat()
    doc.write_text(EDITED, encoding="utf-8")
    os.utime(doc, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = doc.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert _stale(manifest, doc, embedder) == [f"{doc.resolve()} changed since the index was built"]


def test_times_too_recent_to_trust_are_not_recorded(monkeypatch, tmp_path, embedder, hashed):
    # A file can change again within the clock tick it was read in, keeping its times: until
    # they are RACY_NS old, it is hashed every time (here, never old enough).
    monkeypatch.setattr(freshness, "RACY_NS", 10**18)
    doc = tmp_path / "doc.txt"
    doc.write_text(TEXT, encoding="utf-8")
    manifest = build_index([doc], tmp_path / "idx", embedder, ChunkerSettings())
    assert (manifest.sources[0].mtime_ns, manifest.sources[0].ctime_ns) == (0, 0)
    for _ in range(2):
        hashed.clear()
        assert _open(tmp_path / "idx", embedder).manifest == manifest
        assert hashed == [str(doc.resolve())]


def test_times_are_trusted_once_they_are_old_enough():
    seen = Seen(size=10, mtime_ns=100, ctime_ns=200)
    assert settled(seen, 200 + RACY_NS) == seen
    assert settled(seen, 199 + RACY_NS) is None  # the ctime is too recent
    assert settled(None, 10**20) is None


def test_nothing_is_recorded_while_a_build_holds_the_lock(trusted_at_once, built, embedder):
    doc, index_dir, manifest = built
    earlier = doc.stat().st_mtime_ns - 5 * 10**9
    os.utime(doc, ns=(earlier, earlier))
    with open(index_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        index = _open(index_dir, embedder)
    assert index.manifest == manifest == read_manifest(index_dir)  # hashed again next time


def _as_schema_2(index_dir):
    """The index in `index_dir` as an earlier release wrote it: manifest.json (no sizes and
    times for its sources, sealed) beside its data folder (no bm25.df.npy)."""
    from tests.core.index.older import write_schema_3

    older = index_dir.with_name(index_dir.name + "-older")
    write_schema_3(index_dir, older)
    shutil.rmtree(index_dir)
    older.rename(index_dir)
    path = index_dir / MANIFEST
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("manifest_sha256")
    data["schema"] = 2
    for source in data["sources"]:
        for name in ("file_size", "mtime_ns", "ctime_ns"):
            del source[name]
    data["files"].pop("bm25.df.npy")
    (index_dir / data["data_dir"] / "bm25.df.npy").unlink()
    data["manifest_sha256"] = manifest_sha256(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def test_an_index_of_schema_2_is_rebuilt_with_one_line(trusted_at_once, built, embedder):
    _, index_dir, _ = built
    data = _as_schema_2(index_dir)
    old = parse_manifest((index_dir / MANIFEST).read_text(encoding="utf-8"), ())
    assert old.schema == 2 and old.sources[0].mtime_ns == 0
    messages: list[str] = []
    index = _open(index_dir, embedder, messages)
    assert messages == [
        "The index is out of date (it was built by an older qabot, which did not record its "
        "sources' sizes and times); rebuilding …"
    ]
    assert index.manifest.schema == SCHEMA_VERSION and index.manifest.build_id != data["build_id"]
    assert index.manifest.sources[0].mtime_ns > 0


def test_an_index_of_schema_2_whose_sources_are_gone_still_answers(built, embedder):
    from bot.core.answering.retrieval import Retriever
    from bot.core.index.lexical import terms

    doc, index_dir, _ = built
    _as_schema_2(index_dir)
    doc.unlink()
    messages: list[str] = []
    index = _open(index_dir, embedder, messages)
    assert index.manifest.schema == 2 and "no longer exists" in messages[0]
    # Without bm25.df.npy, BM25 is built again from the passages, in memory.
    assert Retriever(index).lexical.scores(terms("lighthouse keeper"))[0] > 0


def test_a_schema_2_manifest_that_does_not_match_its_seal_is_damage(built, embedder):
    from bot.core.index.snapshot import IndexDamaged

    _, index_dir, _ = built
    data = _as_schema_2(index_dir)
    # Consistent, but not what was sealed: an older schema is no excuse for an edit.
    data["chunk_count"] += 1
    data["sources"][0]["chunks"] += 1
    (index_dir / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexDamaged, match=r"manifest\.json: it does not match its checksum"):
        _open(index_dir, embedder)
