"""The index on disk: its layout, reading its current build record, loading it, checking it.
Reading never builds (bot.core.index.store.IndexStore.open_updated decides that, build does it).

Layout of an index folder:

    .qabot-index         marker: qabot made this folder and may replace what it built here
    index.db             SQLite (bot.core.index.schema): build records, the current build,
                         documents, passages with their checksums and embedding cache keys
    data-<build id>/     the current build's vectors: chunks.faiss, chunks.vectors.npy,
                         sentences.npy, bm25.* (their checksums are in its build record)
    .lock                held while a build runs

Nothing is trusted that a build did not write: a build record is read only whole and intact
(record.parse_manifest), a database whose application_id is not qabot's is never taken for
an index, and a passage is quoted only when it matches the checksum its build recorded.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from bot.core.errors import IndexDamaged, IndexStoreError, OlderIndex
from bot.core.index import schema
from bot.core.index import vectors as vector_index
from bot.core.index.integrity import document_digest, verify
from bot.core.index.lexical import LEXICAL_FILES
from bot.core.index.passages import Index, Passages
from bot.core.index.record import ManifestError, looks_like_a_manifest, parse_manifest
from bot.core.index.record import manifest_text as _manifest_text
from bot.core.index.schema import DB_FILE
from bot.core.types import Manifest

# What an index built before index.db kept its build record in (bot.core.index.legacy).
MANIFEST = "manifest.json"
VECTORS_FILE = "chunks.faiss"
# The passage vectors again, as a plain matrix: the next build reads the ones it can reuse
# from here, a row at a time, instead of loading the whole vector index to copy them out.
PASSAGES_FILE = "chunks.vectors.npy"
SENTENCES_FILE = "sentences.npy"
MARKER = ".qabot-index"
DATA_FILES = frozenset({VECTORS_FILE, PASSAGES_FILE, SENTENCES_FILE}) | LEXICAL_FILES
# What every build writes and every record must hold the checksum of (BM25's files vary with
# its method, and a missing one is built again from the passages).
REQUIRED_FILES = DATA_FILES - LEXICAL_FILES
# What the build record is called in messages.
RECORD = "build record"


# --- reading -------------------------------------------------------------------------------


def damaged(index_dir: Path, what: str) -> IndexDamaged:
    return IndexDamaged(
        f"the index in {index_dir} is damaged ({what}); rebuild it: qabot index rebuild", what
    )


def _damaged_record(index_dir: Path, what: str) -> IndexDamaged:
    # Its list of documents cannot be trusted either: the rebuild names them.
    return IndexDamaged(
        f"the index in {index_dir} is damaged ({what}); rebuild it from your documents: "
        "qabot index rebuild --source FILE (or qabot index add FILE …)",
        what,
    )


def foreign(index_dir: Path, name: str) -> IndexStoreError:
    return IndexStoreError(
        f"{index_dir} holds a {name} that is not a qabot index; choose another --index-dir"
    )


def foreign_manifest(index_dir: Path) -> IndexStoreError:
    return foreign(index_dir, MANIFEST)


def manifest_text(manifest: Manifest) -> str:
    """A build record as a build writes it: checked as every reader checks it, and sealed by
    its own checksum."""
    return _manifest_text(manifest, REQUIRED_FILES)


def check_folder_name(index_dir: Path) -> None:
    """IndexStoreError when the folder's name is not UTF-8: FAISS takes file names as UTF-8
    text, so an index there could be neither written nor read."""
    try:
        str(index_dir).encode("utf-8")
    except UnicodeEncodeError:
        from bot.core.documents.sources import shown

        raise IndexStoreError(
            f"the index folder {shown(index_dir)} has a name that is not UTF-8 text, which "
            "FAISS cannot open; choose another (--index-dir, QABOT_INDEX_DIR)"
        ) from None


def open_db(index_dir: Path) -> sqlite3.Connection | None:
    """The index's database, read only; None when there is none. IndexStoreError when the
    folder is a file or the database is not qabot's (no marker); IndexDamaged when it cannot
    be read; OlderIndex when the folder holds an index built before index.db."""
    check_folder_name(index_dir)
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexStoreError(f"{index_dir} is a file, not an index folder")
    path, manifest, marked = (
        index_dir / DB_FILE,
        index_dir / MANIFEST,
        (index_dir / MARKER).is_file(),
    )
    if not (path.exists() or path.is_symlink()):
        if not (manifest.exists() or manifest.is_symlink()):
            return None
        if not marked and not adoptable(index_dir):
            raise foreign_manifest(index_dir)
        raise OlderIndex(
            f"the index in {index_dir} was built by an older qabot; it is brought up to date "
            "when opened with write access: qabot index status"
        )
    if not marked and not schema.is_ours(index_dir):
        raise foreign(index_dir, DB_FILE)
    try:
        return schema.connect(index_dir)
    except schema.NotOurs:
        raise damaged(index_dir, f"{DB_FILE} is not a qabot database") from None
    except (sqlite3.Error, OSError) as exc:
        raise damaged(index_dir, f"{DB_FILE}: {_reason(exc)}") from None


def current_record(db: sqlite3.Connection, index_dir: Path) -> Manifest | None:
    """The current build's record, checked whole; None when no build has finished."""
    try:
        row = db.execute(
            "SELECT b.record FROM current c JOIN builds b ON b.id = c.build AND b.state = 'done'"
        ).fetchone()
        if row is None:
            if db.execute("SELECT count(*) FROM current").fetchone()[0]:
                raise _damaged_record(index_dir, f"{RECORD}: the current build has none")
            return None
    except sqlite3.Error as exc:
        raise damaged(index_dir, f"{DB_FILE}: {_reason(exc)}") from None
    if type(row[0]) is not str:
        raise _damaged_record(index_dir, f"{RECORD}: it is not text")
    try:
        return parse_manifest(row[0], REQUIRED_FILES)
    except ManifestError as exc:
        raise _damaged_record(index_dir, f"{RECORD}: {exc}") from None


def read_manifest(index_dir: Path) -> Manifest | None:
    """The current build's record, checked whole (record.parse_manifest); None when there
    is no index. IndexDamaged when it is damaged in any way; IndexStoreError when the folder
    is a file or its index.db or manifest.json is not qabot's; OlderIndex (see open_db)."""
    db = open_db(index_dir)
    if db is None:
        return None
    try:
        return current_record(db, index_dir)
    finally:
        db.close()


def current_build(index_dir: Path) -> str | None:
    """The id of the build that answers now (one small query: what a live process checks
    before each question); None when there is none, or it cannot be read."""
    try:
        db = schema.connect(index_dir)
    except (sqlite3.Error, OSError, schema.NotOurs):
        return None
    try:
        row = db.execute("SELECT build FROM current").fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None
    finally:
        db.close()


def adoptable(index_dir: Path) -> bool:
    """Whether the manifest.json in `index_dir` (a folder without qabot's marker) is an index
    qabot built before markers existed: a plain file, with qabot's marks, its data folder
    beside it. Anything else is someone else's file, never replaced."""
    path = index_dir / MANIFEST
    try:
        if path.is_symlink() or not path.is_file():
            return False
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not looks_like_a_manifest(raw):
        return False
    data = index_dir / json.loads(raw)["data_dir"]
    return data.is_dir() and not data.is_symlink()


def data_damage(index_dir: Path, manifest: Manifest) -> str | None:
    """What is wrong with the index's data, every file, passage and document hashed (None:
    nothing): what `index status` reports (without reading the FAISS index)."""
    try:
        chunks, _, _ = _checked(index_dir, manifest, full=True)
        try:
            for _ in chunks:  # each passage checked against its checksum
                pass
            return _document_damage(chunks.db, manifest.build_id)
        finally:
            chunks.db.close()
    except IndexDamaged as exc:
        return exc.what


def _document_damage(db: sqlite3.Connection, build: str) -> str | None:
    try:
        rows = db.execute(
            "SELECT seq, source, doc_id, name, format, sha256, pages, title, text, digest "
            "FROM documents WHERE build = ? ORDER BY seq",
            (build,),
        )
        for seq, *fields, digest in rows:
            if document_digest(tuple(fields)) != digest:
                return f"document {seq} does not match its checksum"
    except (sqlite3.Error, TypeError, AttributeError) as exc:
        return f"{DB_FILE}: {_reason(exc)}"
    return None


def _reason(exc: BaseException) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return reason[:200]


def load_index(index_dir: Path, manifest: Manifest) -> Index:
    """The index `manifest` describes, its data checked first (sizes, and hashes as
    integrity.verify does at load); each passage is checked when it is read."""
    chunks, sentence_vectors, passage_vectors = _checked(index_dir, manifest, full=False)
    try:
        try:
            vectors = vector_index.read(index_dir / manifest.data_dir / VECTORS_FILE)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise damaged(index_dir, _reason(exc)) from None
        n, dimension = manifest.chunk_count, manifest.dimension
        if vectors.ntotal != n:
            raise damaged(index_dir, f"{vectors.ntotal} vectors for {n} chunks")
        if vectors.d != dimension:
            raise damaged(
                index_dir, f"vectors of dimension {vectors.d}, its record says {dimension}"
            )
    except BaseException:
        chunks.db.close()
        raise
    return Index(index_dir, manifest, chunks, vectors, sentence_vectors, passage_vectors)


def _checked(index_dir: Path, manifest: Manifest, full: bool) -> tuple[Passages, Any, Any]:
    """The build's passages and its sentence and passage vectors (mapped), after checking
    its data files (`full`: every one hashed) and their shapes against its record."""
    import numpy as np

    data = index_dir / manifest.data_dir
    if data.is_symlink() or not data.is_dir():
        raise damaged(index_dir, f"its data folder {manifest.data_dir} is missing")
    problem = verify(data, manifest.files, full, required=REQUIRED_FILES)
    if problem:
        raise damaged(index_dir, problem)
    try:
        # Mapped, not read: an answer touches the vectors of a few passages and their
        # sentences, and a large corpus's vectors need not all sit in memory.
        sentence_vectors = np.load(data / SENTENCES_FILE, allow_pickle=False, mmap_mode="r")
        passage_vectors = np.load(data / PASSAGES_FILE, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        raise damaged(index_dir, _reason(exc)) from None
    n, dimension = manifest.chunk_count, manifest.dimension
    if sentence_vectors.shape != (manifest.sentence_count, dimension):
        raise damaged(
            index_dir,
            f"sentence vectors of shape {sentence_vectors.shape}, its record says "
            f"({manifest.sentence_count}, {dimension})",
        )
    if passage_vectors.shape != (n, dimension) or passage_vectors.dtype != np.float32:
        raise damaged(
            index_dir,
            f"passage vectors of shape {passage_vectors.shape}, its record says ({n}, {dimension})",
        )
    db = open_db(index_dir)
    if db is None:
        raise damaged(index_dir, f"{DB_FILE} is missing")
    try:
        chunks = Passages(db, manifest.build_id, n, lambda what: damaged(index_dir, what))
        chunks.check_extent(manifest.sentence_count)
    except BaseException:
        db.close()
        raise
    return chunks, sentence_vectors, passage_vectors


def disk_size(index_dir: Path, manifest: Manifest) -> int:
    names = (DB_FILE, f"{DB_FILE}-wal")
    files = [*(index_dir / n for n in names), *(index_dir / manifest.data_dir).glob("*")]
    return sum(f.stat().st_size for f in files if f.is_file())
