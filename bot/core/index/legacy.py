"""Indexes built before index.db (schemas 1 to 3: manifest.json beside a data folder holding
chunks.jsonl, chunks.rows.npy, chunks.sums.npy, documents.jsonl and embedded.keys), brought
into the database when next opened with write access.

The import runs under the build lock: the old manifest and its data files are checked as an
older qabot checked them, every passage against its recorded checksum, then the documents,
passages and embedding keys go into the database under the old build id in one transaction,
and the build becomes current in another (writing.commit), reusing its vector and BM25 files
as they are. Only then are manifest.json and the files the database replaces removed, so a
killed import leaves the old index as it was (its leftover rows are removed with any killed
build's), and a leftover manifest.json beside a current build is removed the next time.
An index of schema 1 or 2 is imported as it was and counts as out of date (freshness), so
it is rebuilt from its own stored text, web pages included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from bot.core.errors import IndexStoreError
from bot.core.index import schema
from bot.core.index.embedcache import KEY_CHARS
from bot.core.index.integrity import verify
from bot.core.index.record import ManifestError, parse_manifest
from bot.core.index.snapshot import (
    MANIFEST,
    MARKER,
    REQUIRED_FILES,
    IndexDamaged,
    adoptable,
    current_build,
    damaged,
)
from bot.core.types import SCHEMA_VERSION, Notify

CHUNKS_FILE = "chunks.jsonl"
ROWS_FILE = "chunks.rows.npy"
SUMS_FILE = "chunks.sums.npy"
DOCUMENTS_FILE = "documents.jsonl"
EMBED_KEYS_FILE = "embedded.keys"
# Every file an older build wrote into its data folder that the database now holds.
DATA_FILES = frozenset(
    {CHUNKS_FILE, ROWS_FILE, SUMS_FILE, DOCUMENTS_FILE, EMBED_KEYS_FILE, "sentence.keys.tmp"}
)
LEGACY_REQUIRED = REQUIRED_FILES | (DATA_FILES - {"sentence.keys.tmp"})
_NO_KEY = b"-" * KEY_CHARS  # a key that matches nothing: the vectors are embedded again


def older(index_dir: Path) -> bool:
    """Whether `index_dir` holds an index built before index.db, not yet imported."""
    manifest = index_dir / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return False
    if not (index_dir / MARKER).is_file() and not adoptable(index_dir):
        return False
    return current_build(index_dir) is None


def migrate(index_dir: Path, notify: Notify) -> None:
    """Import the older index in `index_dir` (the caller holds the build lock); nothing when
    there is none. IndexDamaged when it is damaged; a leftover manifest.json of an import that
    committed is removed."""
    if not older(index_dir):
        remove_leftover(index_dir)
        return
    raw = (index_dir / MANIFEST).read_text(encoding="utf-8", errors="replace")
    try:
        manifest = parse_manifest(raw, LEGACY_REQUIRED)
    except ManifestError as exc:
        what = f"{MANIFEST}: {exc}"
        raise IndexDamaged(
            f"the index in {index_dir} is damaged ({what}); rebuild it from your documents: "
            "qabot index rebuild --source FILE (or qabot index add FILE …)",
            what,
        ) from None
    data = index_dir / manifest.data_dir
    problem = verify(data, manifest.files, False, LEGACY_REQUIRED & set(manifest.files))
    if problem:
        raise damaged(index_dir, problem)
    from bot.core.index.writing import commit, forget

    files = {k: v for k, v in manifest.files.items() if k not in DATA_FILES}
    schema_number = SCHEMA_VERSION if manifest.schema == 3 else manifest.schema
    record = dataclasses.replace(manifest, files=files, schema=schema_number)
    try:
        db = schema.connect(index_dir, write=True)
    except (sqlite3.Error, schema.NotOurs) as exc:
        raise damaged(index_dir, f"{schema.DB_FILE}: {str(exc)[:200]}") from None
    try:
        forget(db, [manifest.build_id])
        with schema.transaction(db):
            db.execute(
                "INSERT INTO builds (id, state) VALUES (?, 'building')", (manifest.build_id,)
            )
            _import_documents(db, manifest.build_id, data)
            _import_passages(db, manifest.build_id, data, index_dir, manifest.sentence_count)
        commit(db, record)
        schema.settle(db)
    except (OSError, ValueError, KeyError, TypeError, sqlite3.Error) as exc:
        raise damaged(index_dir, str(exc)[:200] or type(exc).__name__) from None
    finally:
        db.close()
    _remove_old_files(index_dir)
    if manifest.schema == 3:
        notify(f"The index in {index_dir} was built by an older qabot; brought up to date.")


def _import_documents(db: sqlite3.Connection, build: str, data: Path) -> None:
    from bot.core.index.writing import insert_document

    path = data / DOCUMENTS_FILE
    if not path.is_file():
        return  # schema 1: the sources are read again at the rebuild
    with open(path, encoding="utf-8") as fh:
        for seq, line in enumerate(fh):
            r = json.loads(line)
            fields = (
                r["source"],
                r["doc_id"],
                r.get("name", ""),
                r.get("format", "text"),
                r["sha256"],
                json.dumps(list(r.get("pages", []))),
                r.get("title", ""),
                r["text"],
            )
            insert_document(db, build, seq, fields)


def _import_passages(
    db: sqlite3.Connection, build: str, data: Path, index_dir: Path, sentences: int
) -> None:
    """chunks.jsonl a line at a time (each checked against chunks.sums.npy when there is
    one), with each passage's keys from embedded.keys (mapped, not read whole)."""
    import numpy as np

    from bot.core.index.integrity import passage_digest

    with open(data / CHUNKS_FILE, "rb") as fh:
        passages = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    sums: Any = None
    if (data / SUMS_FILE).is_file():
        sums = np.load(data / SUMS_FILE, allow_pickle=False, mmap_mode="r")
        if sums.shape != (passages, 8):
            raise damaged(index_dir, f"{SUMS_FILE} does not match {CHUNKS_FILE}")
    keys = _keys(data / EMBED_KEYS_FILE, passages + sentences)
    first = 0
    with open(data / CHUNKS_FILE, "rb") as fh:
        for row, line in enumerate(fh):
            if sums is not None and hashlib.sha256(line).digest()[:8] != sums[row].tobytes():
                raise damaged(index_dir, f"passage {row} does not match its checksum")
            body = line.decode("utf-8").rstrip("\n")
            count = len(json.loads(body)["sentences"])
            if first + count > sentences:
                raise damaged(index_dir, f"{CHUNKS_FILE} does not match its manifest")
            at = passages + first
            own = (
                [keys[row], *keys[at : at + count]] if keys is not None else [_NO_KEY] * (count + 1)
            )
            digest = passage_digest(row, first, count, body)
            db.execute(
                "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?)",
                (build, row, first, count, body, digest, b"".join(bytes(k) for k in own)),
            )
            first += count
    if first != sentences:
        raise damaged(index_dir, f"{CHUNKS_FILE} does not match its manifest")


def _keys(path: Path, expected: int) -> Any:
    """embedded.keys, one key a line, mapped; None when missing or not `expected` keys (the
    vectors are embedded again at the next build)."""
    import numpy as np

    try:
        if path.stat().st_size != expected * (KEY_CHARS + 1) or not expected:
            return None
        lines = np.memmap(path, dtype=[("key", f"S{KEY_CHARS}"), ("end", "S1")], mode="r")
    except (OSError, ValueError):
        return None
    return lines["key"]


def remove_leftover(index_dir: Path) -> None:
    """The manifest.json of an older index that a build (or an import that committed)
    replaced; only in a folder with qabot's marker, and only once a build is current."""
    left = (index_dir / MANIFEST).is_file() and (index_dir / MARKER).is_file()
    if left and current_build(index_dir) is not None:
        _remove_old_files(index_dir)


def _remove_old_files(index_dir: Path) -> None:
    """manifest.json and the data files the database replaced (in the current build's data
    folder: older ones go with their folder)."""
    from bot.core.index.snapshot import read_manifest

    with contextlib.suppress(OSError, IndexStoreError):
        current = read_manifest(index_dir)
        if current is not None:
            for name in DATA_FILES:
                (index_dir / current.data_dir / name).unlink(missing_ok=True)
        (index_dir / MANIFEST).unlink(missing_ok=True)
