"""The index on disk: build, load, staleness, corruption, and builds that are interrupted."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from bot.core.errors import IndexStoreError
from bot.core.index.build import build_index
from bot.core.index.freshness import staleness
from bot.core.index.integrity import passage_digest
from bot.core.index.record import manifest_sha256
from bot.core.index.snapshot import VECTORS_FILE, load_index, read_manifest
from bot.core.index.store import IndexStore
from bot.core.settings import CHUNKING_RULES, ChunkerSettings, IndexSettings
from bot.core.types import SCHEMA_VERSION
from tests.conftest import ARTICLE


@pytest.fixture
def index_copy(tmp_path, article_index_dir):
    target = tmp_path / "index"
    shutil.copytree(article_index_dir, target)
    return target


def db_of(index_dir):
    return sqlite3.connect(index_dir / "index.db", isolation_level=None)


def edit_record(index_dir, edit, reseal=False):
    """The current build's record, as JSON, passed through `edit` and written back."""
    db = db_of(index_dir)
    try:
        (build, raw) = db.execute(
            "SELECT b.id, b.record FROM current c JOIN builds b ON b.id = c.build"
        ).fetchone()
        data = json.loads(raw)
        data = edit(data) or data
        if reseal:
            data.pop("manifest_sha256", None)
            data["manifest_sha256"] = manifest_sha256(data)
        text = data if isinstance(data, str) else json.dumps(data)
        db.execute("UPDATE builds SET record = ? WHERE id = ?", (text, build))
    finally:
        db.close()


def test_manifest_describes_the_build(article_index_dir):
    manifest = read_manifest(article_index_dir)
    assert manifest.schema == SCHEMA_VERSION == 4
    assert manifest.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest.dimension == 384
    assert manifest.chunker == {"max_tokens": 200, "min_tokens": 24, "rules": CHUNKING_RULES}
    [source] = manifest.sources
    assert source.path == str(ARTICLE.resolve())
    assert len(source.sha256) == 64
    assert manifest.chunk_count == source.chunks > 20
    assert manifest.built_at and manifest.build_seconds > 0
    index = load_index(article_index_dir, manifest)
    assert index.vectors.ntotal == manifest.chunk_count
    assert index.sentence_vectors.shape == (manifest.sentence_count, 384)


def test_the_index_store_reads_builds_and_checks_one_folder(tmp_path, embedder):
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("The lighthouse keeper lit the lamp at dusk every evening.\n")
    second.write_text("The ferry leaves the harbour at noon and returns at six.\n")
    store = IndexStore(tmp_path / "idx")
    assert store.record() is None and store.current_build() is None
    with pytest.raises(IndexStoreError, match=r"no index in .* yet"):
        store.open()

    record = store.build([first], embedder, ChunkerSettings())
    assert store.record() == record and store.current_build() == record.build_id
    assert store.open().chunks[0].text.startswith("The lighthouse keeper")
    assert store.damage(record) is None and store.size(record) > 0
    assert store.vectors_file(record).is_file()
    settings = (embedder.name, ChunkerSettings(), "auto")
    assert store.out_of_date(record, [first], *settings) == []

    seen = []  # a plan is given the record as it stands under the build's lock
    later = store.build(
        lambda before: seen.append(before) or [first, second], embedder, ChunkerSettings()
    )
    assert seen == [record] and [s.path for s in later.sources] == [str(first), str(second)]
    second.unlink()
    assert store.out_of_date(later, [first, second], *settings) == [f"{second} no longer exists"]
    (store.directory / later.data_dir / VECTORS_FILE).write_bytes(b"not faiss")
    assert "chunks.faiss" in store.damage(later)


def test_staleness(tmp_path, article_index_dir):
    manifest = read_manifest(article_index_dir)
    assert staleness(manifest, [ARTICLE], manifest.model, ChunkerSettings()) == []
    assert staleness(manifest, [ARTICLE], "other-model", ChunkerSettings())
    assert staleness(manifest, [ARTICLE], manifest.model, ChunkerSettings(max_tokens=128))
    assert staleness(manifest, [tmp_path / "other.txt"], manifest.model, ChunkerSettings())
    # built by the rules before quotes said by "he" joined their speaker's paragraph
    older = dataclasses.replace(manifest, chunker={"max_tokens": 200, "min_tokens": 24})
    assert staleness(older, [ARTICLE], manifest.model, ChunkerSettings()) == [
        "the chunking settings changed"
    ]


def test_missing_index_is_built_and_edited_source_rebuilt(tmp_path, embedder):
    doc = tmp_path / "doc.txt"
    doc.write_text("The lighthouse keeper lit the lamp at dusk every evening.\n")
    messages = []
    directory = tmp_path / "idx"
    index = IndexStore(directory).open_updated(
        embedder, ChunkerSettings(), [doc], [doc], notify=messages.append
    )
    assert "No index" in messages[0] and index.manifest.chunk_count == 1
    first_build = index.manifest.build_id

    doc.write_text("The ferry leaves the harbour at noon.\n\nIt returns at six.\n")
    index = IndexStore(directory).open_updated(
        embedder, ChunkerSettings(), None, [doc], notify=messages.append
    )
    assert "out of date" in messages[-1]
    assert index.manifest.build_id != first_build
    assert "ferry" in index.chunks[0].text
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith("data-")) == [
        index.manifest.data_dir
    ]

    with pytest.raises(IndexStoreError, match=r"out of date.*qabot index rebuild"):
        doc.write_text("Something else entirely now.\n")
        IndexStore(directory).open_updated(
            embedder,
            ChunkerSettings(),
            None,
            [doc],
            settings=IndexSettings(auto_rebuild=False),
        )


@pytest.mark.parametrize(
    "damage",
    [
        "garbage_record",
        "wrong_schema",
        "truncated_vectors",
        "missing_data",
        "fewer_chunks",
        "garbage_db",
        "truncated_db",
        "newer_db",
    ],
)
def test_corruption_gives_a_clear_error(index_copy, embedder, damage):
    manifest = read_manifest(index_copy)
    data = index_copy / manifest.data_dir
    db = index_copy / "index.db"
    if damage == "garbage_record":
        edit_record(index_copy, lambda _: "{not json")
    elif damage == "wrong_schema":
        edit_record(index_copy, lambda raw: raw.update(schema=99))
    elif damage == "truncated_vectors":
        vectors = data / "chunks.faiss"
        vectors.write_bytes(vectors.read_bytes()[:100])
    elif damage == "missing_data":
        shutil.rmtree(data)
    elif damage == "fewer_chunks":
        with db_of(index_copy) as conn:
            conn.execute("DELETE FROM passages WHERE row = ?", (manifest.chunk_count - 1,))
    elif damage == "garbage_db":
        db.write_bytes(b"not a database at all" * 300)
    elif damage == "truncated_db":
        db.write_bytes(db.read_bytes()[:1500])
    elif damage == "newer_db":
        with db_of(index_copy) as conn:
            conn.execute("PRAGMA user_version = 99")
    with pytest.raises(IndexStoreError, match="qabot index rebuild") as info:
        IndexStore(index_copy).open_updated(embedder, ChunkerSettings(), None, [ARTICLE])
    assert "\n" not in str(info.value)


def test_interrupted_write_keeps_the_old_index(index_copy, embedder, monkeypatch):
    before = read_manifest(index_copy)
    import numpy as np

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_index([ARTICLE], index_copy, embedder, ChunkerSettings())
    monkeypatch.undo()
    assert read_manifest(index_copy) == before
    assert load_index(index_copy, before).manifest.chunk_count == before.chunk_count
    assert not [p for p in index_copy.iterdir() if p.name.startswith(".build-")]


def test_killed_build_keeps_the_old_index_and_is_cleaned_up(index_copy, tmp_path, embedder):
    before = read_manifest(index_copy)
    big = tmp_path / "big.txt"
    # Distinct sentences: repeated ones are embedded once, and the build would be over.
    big.write_text(
        "\n\n".join(
            f"Harbour record {i} shows ferry {i * 7} left pier {i % 13} at {i % 24} hours. "
            f"Its crew of {i % 40 + 2} counted {i * 3} passengers and {i % 17} cars. "
            f"Record {i} was filed by clerk {i * 11 % 97} on day {i % 365}."
            for i in range(3000)
        )
    )
    script = (
        "import sys; from pathlib import Path; from bot.core.index.embedding import Embedder;"
        "from bot.core.index.build import build_index;"
        "from bot.core.settings import ChunkerSettings;"
        "build_index([Path(sys.argv[1])], Path(sys.argv[2]), Embedder(), ChunkerSettings())"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(big), str(index_copy)])
    deadline = time.monotonic() + 120
    # Killed once it is embedding: its sentence vectors are being written in its staging folder.
    while not list(index_copy.glob(".build-*/sentences.npy")) and time.monotonic() < deadline:
        assert proc.poll() is None, "the build finished before it could be interrupted"
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert read_manifest(index_copy) == before
    assert load_index(index_copy, before).chunks[0].text.startswith("It was the awkward")
    with db_of(index_copy) as conn:  # its documents and passages, all but committed
        assert conn.execute("SELECT state FROM builds").fetchall().count(("building",)) == 1

    # A crash while writing leaves a staging folder; the next build removes it.
    crashed = index_copy / ".build-20250101T000000-abc123"
    crashed.mkdir()
    (crashed / "chunks.jsonl").write_text("{}\n")
    after = build_index([ARTICLE], index_copy, embedder, ChunkerSettings())
    assert not crashed.exists()
    with db_of(index_copy) as conn:  # the killed build's rows are gone, the previous kept
        builds = sorted(conn.execute("SELECT id, state FROM builds").fetchall())
        assert builds == sorted([(before.build_id, "done"), (after.build_id, "done")])
        kept = conn.execute("SELECT DISTINCT build FROM passages").fetchall()
        assert sorted(kept) == sorted([(before.build_id,), (after.build_id,)])


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_every_index_type_builds_loads_and_answers(tmp_path, embedder, kind):
    from bot.core.answering.engine import QAEngine
    from bot.core.settings import AnswerSettings

    manifest = build_index(
        [ARTICLE], tmp_path / "idx", embedder, ChunkerSettings(), index_type=kind
    )
    assert manifest.index_type == kind
    assert staleness(manifest, [ARTICLE], manifest.model, ChunkerSettings(), kind) == []
    other = "flat" if kind != "flat" else "hnsw"
    assert staleness(manifest, [ARTICLE], manifest.model, ChunkerSettings(), other) == [
        f"the index type changed ({kind} -> {other})"
    ]
    engine = QAEngine(load_index(tmp_path / "idx", manifest), embedder, AnswerSettings())
    answer = engine.answer("Who is China's ambassador to Japan?")
    assert "Cheng Yonghua" in answer.text


def test_auto_index_type_follows_corpus_size():
    from bot.core.index.vectors import AUTO_FLAT_LIMIT, choose

    assert choose("auto", 34) == "flat"
    assert choose("auto", AUTO_FLAT_LIMIT) == "hnsw"
    assert choose("ivf", 34) == "ivf"


@pytest.mark.parametrize("vector_index_readable", [True, False])
def test_rebuild_after_an_edit_embeds_only_what_changed(tmp_path, embedder, vector_index_readable):
    doc = tmp_path / "article.txt"
    text = ARTICLE.read_text(encoding="utf-8")
    doc.write_text(text, encoding="utf-8")
    index_dir = tmp_path / "index"
    first = build_index([doc], index_dir, embedder, ChunkerSettings())
    if not vector_index_readable:
        # The vectors to reuse come from their own file, a row at a time: a rebuild of a
        # large index never loads the old vector index to copy them out of it.
        (index_dir / first.data_dir / VECTORS_FILE).write_bytes(b"not a FAISS index")

    encoded: list[int] = []
    real_encode = embedder.encode_passages

    def counting_encode(parts, *args, **kwargs):
        encoded.append(sum(len(group) for group in parts))
        return real_encode(parts, *args, **kwargs)

    old = "The unlikely warming of relations"
    assert old in text
    doc.write_text(text.replace(old, "The surprising warming of relations"), encoding="utf-8")
    embedder.encode_passages = counting_encode
    try:
        second = build_index([doc], index_dir, embedder, ChunkerSettings())
    finally:
        del embedder.encode_passages
    # The sentences of the edited passage, not all 48 sentences of the article.
    assert 0 < sum(encoded) <= 3 < second.sentence_count

    fresh_dir = tmp_path / "fresh"
    build_index([doc], fresh_dir, embedder, ChunkerSettings())
    incremental = load_index(index_dir, second)
    fresh = load_index(fresh_dir, read_manifest(fresh_dir))
    assert np.allclose(incremental.sentence_vectors, fresh.sentence_vectors, atol=1e-5)
    assert np.allclose(
        incremental.vectors.reconstruct_n(0, second.chunk_count),
        fresh.vectors.reconstruct_n(0, second.chunk_count),
        atol=1e-5,
    )
    assert first.build_id != second.build_id


def test_one_pass_gives_sentence_vectors_and_passage_vectors(embedder):
    """A sentence's vector is exactly its own embedding; a passage's is pooled from its
    parts' tokens, close to the embedding of its whole text; a repeated part runs once."""
    passage = [
        "Abe arrives in Beijing on Thursday.",
        "It is the first official visit by a Japanese leader since 2011.",
    ]
    other = ["Abe arrives in Beijing on Thursday.", "Trade is high on the agenda."]
    calls: list[list[str]] = []
    model = embedder.model
    # A build embeds through the ONNX export when there is one (no torch), else the model.
    builder = embedder._builder
    target, name = (builder, "token_sums") if builder is not None else (model, "encode")
    real = getattr(target, name)

    def recording(texts, *args, **kwargs):
        calls.append(list(texts))
        return real(texts, *args, **kwargs)

    setattr(target, name, recording)
    try:
        passages, parts = embedder.encode_passages([passage, other])
    finally:
        delattr(target, name)
    assert sorted(t for call in calls for t in call) == sorted({*passage, *other})

    # Each part's vector is the model's own (sentence-transformers under torch), to 1e-5.
    alone = model.encode(passage + other, normalize_embeddings=True)
    assert np.allclose(np.concatenate(parts), alone, atol=1e-5)
    whole = model.encode([" ".join(passage), " ".join(other)], normalize_embeddings=True)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    cosines = (passages * whole).sum(axis=1)
    assert (cosines > 0.85).all(), cosines
    # …and each passage is nearer its own text than the other passage's.
    assert cosines[0] > float(passages[0] @ whole[1])
    assert cosines[1] > float(passages[1] @ whole[0])


def test_passages_are_read_from_the_database_when_asked_for(index_copy):
    """Start-up reads no passage: what a loaded index returns is exactly what the database
    holds for its build, and each passage's sentence rows are the ones recorded with it."""
    from bot.core.types import Chunk

    manifest = read_manifest(index_copy)
    with db_of(index_copy) as conn:
        rows = conn.execute(
            "SELECT body, first_sentence, sentences FROM passages WHERE build = ? ORDER BY row",
            (manifest.build_id,),
        ).fetchall()
    expected = [Chunk.from_dict(json.loads(body)) for body, _, _ in rows]
    index = load_index(index_copy, manifest)
    assert list(index.chunks) == expected
    assert [index.chunks[i] for i in (-1, 0, len(expected) // 2)] == [
        expected[-1],
        expected[0],
        expected[len(expected) // 2],
    ]
    spans = [index.chunks.sentence_rows(i) for i in range(len(expected))]
    assert [(r.start, len(r)) for r in spans] == [(first, n) for _, first, n in rows]
    assert [len(r) for r in spans] == [len(c.sentences) for c in expected]
    assert spans[0].start == 0 and spans[-1].stop == manifest.sentence_count
    with pytest.raises(IndexError):
        index.chunks[len(expected)]

    # The files are what a build wrote, or the index is damaged: a record without a file's
    # checksum is refused, not read around.
    older = dataclasses.replace(
        manifest, files={k: v for k, v in manifest.files.items() if k != "sentences.npy"}
    )
    with pytest.raises(IndexStoreError, match=r"no checksum recorded for sentences\.npy"):
        load_index(index_copy, older)


def test_passages_that_do_not_fit_the_record_are_damage(index_copy):
    """Passages that do not end where the record says are reported, not read as wrong
    passages, even with checksums that match them."""
    manifest = read_manifest(index_copy)
    last = manifest.chunk_count - 1
    with db_of(index_copy) as conn:
        first, count, body = conn.execute(
            "SELECT first_sentence, sentences, body FROM passages WHERE build = ? AND row = ?",
            (manifest.build_id, last),
        ).fetchone()
        conn.execute(
            "UPDATE passages SET sentences = ?, digest = ? WHERE build = ? AND row = ?",
            (count + 1, passage_digest(last, first, count + 1, body), manifest.build_id, last),
        )
    with pytest.raises(IndexStoreError, match=r"damaged.*do not end at sentence"):
        load_index(index_copy, manifest)


def test_a_passage_is_found_by_its_id(index_copy):
    index = load_index(index_copy, read_manifest(index_copy))
    for row, chunk in enumerate(index.chunks):
        assert index.row_of(chunk.id) == row
    doc = index.chunks[0].doc_id
    for gone in (f"{doc}#p9999", f"{doc}#p1.7", "other#p1", "no-id", f"{doc}#px"):
        assert index.row_of(gone) is None


def test_a_build_does_not_load_torch_once_the_model_is_exported(tmp_path, embedder):
    """With the model's ONNX export in place (the first build makes it), a build embeds
    through ONNX Runtime: torch and sentence-transformers never load (about 0.3 GB)."""
    embedder.prepare_queries()  # the export exists from here on
    code = (
        "import sys; from pathlib import Path\n"
        "from bot.core.index.build import build_index\n"
        "from bot.core.index.embedding import Embedder\n"
        "from bot.core.settings import ChunkerSettings\n"
        "m = build_index([Path(sys.argv[1])], Path(sys.argv[2]), Embedder(), ChunkerSettings())\n"
        "print(m.chunk_count, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ARTICLE), str(tmp_path / "index")],
        capture_output=True,
        text=True,
        check=True,
    )
    count, torch, sentence_transformers = done.stdout.split()
    assert int(count) > 10 and torch == sentence_transformers == "False"


def test_an_index_built_before_the_database_is_brought_into_it(
    tmp_path, article_index_dir, embedder
):
    """An index as main wrote it before index.db (schema 3): opened, it is imported with one
    line, its vector and BM25 files reused as they are, nothing embedded again; it answers
    as it did, and the files the database replaced are gone."""
    from tests.core.index.older import write_schema_3

    older = tmp_path / "older"
    data = write_schema_3(article_index_dir, older)
    assert not (older / "index.db").exists() and (older / "manifest.json").is_file()
    vectors = (older / data["data_dir"] / VECTORS_FILE).read_bytes()
    with pytest.raises(IndexStoreError, match=r"built by an older qabot"):
        read_manifest(older)  # reading never writes: opening does
    messages = []
    index = IndexStore(older).open_updated(
        embedder, ChunkerSettings(), None, [], notify=messages.append
    )
    assert messages == [f"The index in {older} was built by an older qabot; brought up to date."]
    assert index.manifest.build_id == data["build_id"] and index.manifest.schema == SCHEMA_VERSION
    assert (older / data["data_dir"] / VECTORS_FILE).read_bytes() == vectors
    original = load_index(article_index_dir, read_manifest(article_index_dir))
    assert list(index.chunks) == list(original.chunks)
    assert [index.chunks.sentence_rows(i) for i in range(len(original.chunks))] == [
        original.chunks.sentence_rows(i) for i in range(len(original.chunks))
    ]
    assert not (older / "manifest.json").exists()
    assert sorted(p.name for p in (older / data["data_dir"]).iterdir()) == sorted(
        p.name for p in (article_index_dir / data["data_dir"]).iterdir()
    )
    messages.clear()
    again = IndexStore(older).open_updated(
        embedder, ChunkerSettings(), None, [], notify=messages.append
    )
    assert messages == [] and again.manifest == index.manifest

    # Its stored documents and embedding keys came along: a rebuild embeds nothing again.
    encoded: list[int] = []
    real_encode = embedder.encode_passages
    embedder.encode_passages = lambda parts, *a, **k: (
        encoded.append(1) or real_encode(parts, *a, **k)
    )
    try:
        build_index([ARTICLE], older, embedder, ChunkerSettings())
    finally:
        del embedder.encode_passages
    assert encoded == []


def test_an_import_killed_before_it_commits_leaves_the_older_index(
    tmp_path, article_index_dir, embedder, monkeypatch
):
    from bot.core.index import writing
    from tests.core.index.older import write_schema_3

    older = tmp_path / "older"
    write_schema_3(article_index_dir, older)
    before = {p.name for p in older.rglob("*") if p.is_file()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writing, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        IndexStore(older).open_updated(embedder, ChunkerSettings(), None, [])
    monkeypatch.undo()
    assert before <= {p.name for p in older.rglob("*") if p.is_file()}
    messages = []
    index = IndexStore(older).open_updated(
        embedder, ChunkerSettings(), None, [], notify=messages.append
    )
    assert len(messages) == 1 and index.chunks[0].text.startswith("It was the awkward")
    with db_of(older) as conn:
        assert conn.execute("SELECT count(*) FROM builds").fetchone() == (1,)


def _as_schema_1(article_index_dir, target):
    """The index as the release before checksums wrote it: no seal, no chunks.sums.npy."""
    from tests.core.index.older import write_schema_3

    data = write_schema_3(article_index_dir, target)
    data.pop("manifest_sha256")
    data["schema"] = 1
    assert data["files"].pop("chunks.sums.npy")  # the file the older schema did not have
    (target / data["data_dir"] / "chunks.sums.npy").unlink()
    (target / "manifest.json").write_text(json.dumps(data))
    return data


def test_an_index_of_the_older_schema_is_rebuilt_with_one_line(
    tmp_path, article_index_dir, embedder
):
    """An index built before manifests and passages had checksums (schema 1, as an older
    release wrote it): read only to be rebuilt from its own sources, saying so once; never
    reported as damage, never answered from unchecked."""
    index_copy = tmp_path / "index"
    data = _as_schema_1(article_index_dir, index_copy)
    messages = []
    index = IndexStore(index_copy).open_updated(
        embedder, ChunkerSettings(), None, [], notify=messages.append
    )
    assert messages == [
        "The index is out of date (it was built by an older qabot, without checksums for "
        "every passage); rebuilding …"
    ]
    assert index.manifest.schema == SCHEMA_VERSION and index.manifest.build_id != data["build_id"]
    refused = tmp_path / "refused"
    _as_schema_1(article_index_dir, refused)
    with pytest.raises(IndexStoreError, match=r"out of date .*older qabot"):
        IndexStore(refused).open_updated(
            embedder, ChunkerSettings(), None, [], IndexSettings(auto_rebuild=False)
        )
    old = read_manifest(refused)  # imported as it was, to be rebuilt
    assert old.schema == 1
    assert staleness(old, [s.path for s in old.sources], embedder.name, ChunkerSettings()) == [
        "it was built by an older qabot, without checksums for every passage"
    ]


def test_a_read_only_index_folder_still_answers(tmp_path, article_index_dir, embedder, monkeypatch):
    """A folder qabot cannot write (a read-only mount, another user's index): WAL would need
    its -shm file there, so the database is opened immutable; nothing is written."""
    from bot.core.answering.engine import QAEngine
    from bot.core.index import schema
    from bot.core.settings import AnswerSettings

    folder = tmp_path / "ro"
    shutil.copytree(article_index_dir, folder)
    for name in ("index.db-wal", "index.db-shm"):
        (folder / name).unlink(missing_ok=True)
    before = sorted(p.name for p in folder.iterdir())
    # Tests may run as root, for whom every folder is writable: the check is what decides.
    monkeypatch.setattr(schema.os, "access", lambda path, mode: False)
    folder.chmod(0o555)
    try:
        manifest = read_manifest(folder)
        index = IndexStore(folder).open_updated(embedder, ChunkerSettings(), None, [])
        assert index.manifest == manifest
        answer = QAEngine(index, embedder, AnswerSettings()).answer(
            "Who is China's ambassador to Japan?"
        )
        assert "Cheng Yonghua" in answer.text
    finally:
        folder.chmod(0o755)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_reading_an_index_leaves_no_files_beside_its_database(tmp_path, embedder):
    """A build leaves the database whole in one file (its WAL checkpointed, rollback-journal
    mode): an `ask` reads it without making -wal or -shm files that stay after it."""
    doc = tmp_path / "doc.txt"
    doc.write_text("The lighthouse keeper lit the lamp at dusk every evening.\n")
    store = IndexStore(tmp_path / "idx")
    store.build([doc], embedder, ChunkerSettings())
    files = sorted(p.name for p in store.directory.iterdir())
    assert not [name for name in files if name.startswith("index.db-")]
    index = store.open()
    assert "lighthouse" in index.chunks[0].text
    assert sorted(p.name for p in store.directory.iterdir()) == files
    index.chunks.db.close()
    assert sorted(p.name for p in store.directory.iterdir()) == files


def test_a_process_on_the_previous_build_reads_its_passages_until_the_next(tmp_path, embedder):
    """A build keeps the passages of the build it replaces (a process answering from it
    reads them until it reloads); the build after removes them."""
    doc = tmp_path / "doc.txt"
    doc.write_text("The lighthouse keeper lit the lamp at dusk every evening.\n")
    directory = tmp_path / "idx"
    first = build_index([doc], directory, embedder, ChunkerSettings())
    old, again = load_index(directory, first), load_index(directory, first)
    doc.write_text("The ferry leaves the harbour at noon.\n")
    build_index([doc], directory, embedder, ChunkerSettings())
    assert "lighthouse" in old.chunks[0].text  # not read before: read from the database now
    build_index([ARTICLE], directory, embedder, ChunkerSettings())
    with pytest.raises(IndexStoreError, match="passage 0 is missing"):
        again.chunks[0]


def test_the_current_build_is_one_query_away(tmp_path, embedder):
    from bot.core.index.snapshot import current_build

    directory = tmp_path / "idx"
    assert current_build(directory) is None
    manifest = build_index([ARTICLE], directory, embedder, ChunkerSettings())
    assert current_build(directory) == manifest.build_id


def test_a_damaged_older_index_is_reported_then_replaced_by_a_rebuild(
    tmp_path, article_index_dir, embedder
):
    from tests.core.index.older import write_schema_3

    older = tmp_path / "older"
    data = write_schema_3(article_index_dir, older)
    chunks = older / data["data_dir"] / "chunks.jsonl"
    chunks.write_bytes(chunks.read_bytes().replace(b"Japan", b"Spain", 1))  # same size
    with pytest.raises(
        IndexStoreError, match=r"damaged \((passage \d+|chunks\.jsonl) does not match"
    ) as info:
        IndexStore(older).open_updated(embedder, ChunkerSettings(), None, [])
    assert "\n" not in str(info.value) and (older / "manifest.json").is_file()
    manifest = build_index([ARTICLE], older, embedder, ChunkerSettings())
    assert read_manifest(older) == manifest
    assert not (older / "manifest.json").exists() and not (older / data["data_dir"]).exists()
