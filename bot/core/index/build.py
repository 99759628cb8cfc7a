"""Building an index: into a folder qabot owns, under a lock, written aside and swapped in.

A build adds its documents and passages to the database under its own build id (one
transaction), writes its vectors into a new data folder under a temporary name and renames
it, then makes itself the current build in one transaction (the layout is in
bot.core.index.snapshot): that commit is the swap. Until then the previous build and its data
stay untouched, so an interrupted build (Ctrl-C, a crash, a full disk) never leaves a broken
index and never loses the last good one; what it left is removed when the next build takes
the lock. The previous build's passages stay in the database until the build after: a process
still answering from it reads them until it reloads.

The folder, its lock and its clean-up are bot.core.index.folder's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.documents.sources import MAX_SOURCE_BYTES, is_url
from bot.core.errors import IndexStoreError, SourceError
from bot.core.index import legacy, schema
from bot.core.index.embedcache import previous_vectors
from bot.core.index.folder import (
    build_lock,
    claim_folder,
    remove_if_unused,
    remove_unused,
    writable_db,
)
from bot.core.index.freshness import Seen, with_seen
from bot.core.index.integrity import checksums
from bot.core.index.reading import read_documents, stored_documents
from bot.core.index.schema import transaction
from bot.core.index.snapshot import current_record, manifest_text
from bot.core.index.writing import DataWriter, commit, forget
from bot.core.settings import ChunkerSettings
from bot.core.types import SCHEMA_VERSION, Manifest, Notify, Plan, Progress, quiet

if TYPE_CHECKING:
    from bot.core.index.embedding import Embedder


def record_seen(index_dir: Path, manifest: Manifest, confirmed: Mapping[str, Seen]) -> Manifest:
    """`manifest` recording what `stat` now says of the sources `confirmed` unchanged (hashed,
    found the same), written so the next opening need not hash them again. Only when no
    build runs (one would rewrite the manifest anyway), and only into the build `manifest`
    is; when the folder cannot be written (a read-only index) they are hashed again next
    time, and the manifest is returned as it was."""
    if not confirmed:
        return manifest
    try:
        with open(index_dir / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return manifest
            try:
                return _record_seen(index_dir, manifest, confirmed)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    except (OSError, IndexStoreError, sqlite3.Error, schema.NotOurs):
        return manifest


def _record_seen(index_dir: Path, manifest: Manifest, confirmed: Mapping[str, Seen]) -> Manifest:
    if not schema.is_ours(index_dir):
        return manifest
    db = schema.connect(index_dir, write=True)
    try:
        current = current_record(db, index_dir)
        if current is None or current.build_id != manifest.build_id:
            return manifest
        updated = with_seen(current, confirmed)
        with transaction(db):
            db.execute(
                "UPDATE builds SET record = ? WHERE id = ?",
                (manifest_text(updated), updated.build_id),
            )
        schema.settle(db)
        return updated
    finally:
        db.close()


def build_index(
    sources: Sequence[str | Path] | Plan,
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    progress: Progress | None = None,
    notify: Notify = quiet,
    index_type: str = "auto",
    max_bytes: int = MAX_SOURCE_BYTES,
    refetch: frozenset[str] = frozenset(),
) -> Manifest:
    """Read, chunk and embed `sources` (or what a Plan makes of the index as it stands when
    the build holds the lock), then write the index into `index_dir` and swap it in
    atomically; the previous index answers until then. A folder this build created is gone
    again when it fails: a mistyped or unreadable document leaves no empty index behind."""
    if not callable(sources) and not sources:
        raise SourceError("no documents to index")
    created = not index_dir.exists()
    claim_folder(index_dir)  # before the slow part: a folder qabot may not use fails at once
    try:
        job = _Job(
            sources, index_dir, embedder, chunker, progress, notify, index_type, max_bytes, refetch
        )
        return _build(job)
    except BaseException:
        if created:
            remove_if_unused(index_dir)
        raise


@dataclass(frozen=True)
class _Job:
    """One build's inputs, as build_index takes them."""

    sources: Sequence[str | Path] | Plan
    index_dir: Path
    embedder: Embedder
    chunker: ChunkerSettings
    progress: Progress | None
    notify: Notify
    index_type: str
    max_bytes: int
    refetch: frozenset[str]


def _build(job: _Job) -> Manifest:
    started = time.perf_counter()
    index_dir, embedder, chunker, notify = job.index_dir, job.embedder, job.chunker, job.notify
    if chunker.max_tokens > embedder.max_tokens:
        raise IndexStoreError(
            f"max_chunk_tokens {chunker.max_tokens} exceeds what the model reads "
            f"({embedder.max_tokens} word pieces)"
        )
    # The whole build holds the lock: a second build waits and then starts from this one's
    # result, instead of both embedding the same text and the last to finish winning.
    with build_lock(index_dir, notify):
        with contextlib.suppress(IndexStoreError):  # a damaged older index is replaced
            legacy.migrate(index_dir, notify)
        db = writable_db(index_dir)
        try:
            manifest = _build_in(db, job, started)
            schema.settle(db)
        finally:
            db.close()
        remove_unused(index_dir, keep=manifest.data_dir)
        legacy.remove_leftover(index_dir)  # an older index this build replaced
    return manifest


def _build_in(db: sqlite3.Connection, job: _Job, started: float) -> Manifest:
    index_dir, embedder, chunker, progress = job.index_dir, job.embedder, job.chunker, job.progress
    sources, refetch = job.sources, job.refetch
    try:
        before = current_record(db, index_dir)
    except IndexStoreError:
        before = None  # a damaged index is replaced; its dates are lost with it
    if callable(sources):
        sources = sources(before)
    if not sources:
        raise SourceError("no documents to index")
    added_at = {f"{s.path}\0{s.sha256}": s.added_at for s in before.sources} if before else {}
    kept = {s.path: s for s in before.sources} if before else {}  # their names stay
    # Web pages come from the previous build (files are read again, cheaply and fresh).
    previous = before.build_id if before else None
    stored = stored_documents(db, previous, lambda src: is_url(src) and src not in refetch)
    build_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    staging = index_dir / f".build-{build_id}"
    staging.mkdir()
    cache = previous_vectors(index_dir, db, before, embedder.name)
    writer = DataWriter(staging, db, build_id, embedder, cache)
    try:
        skipped: dict[str, str] = {}
        with transaction(db):  # the documents and passages: one step
            db.execute("INSERT INTO builds (id, state) VALUES (?, 'building')", (build_id,))
            infos = writer.add_all(
                read_documents(
                    sources,
                    embedder,
                    chunker,
                    job.notify,
                    progress,
                    stored,
                    added_at,
                    job.max_bytes,
                    skipped,
                    kept,
                )
            )
        del stored  # web pages reused: written again by now
        written = writer.finish(progress, job.index_type)
        query_encoder = embedder.prepare_queries()  # the export answering runs on
        _fsync_all(staging)
        files = checksums(staging)
        data_dir = f"data-{build_id}"
        os.replace(staging, index_dir / data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(sqlite3.Error):
            forget(db, [build_id])
        raise
    manifest = Manifest(
        schema=SCHEMA_VERSION,
        build_id=build_id,
        data_dir=data_dir,
        model=embedder.name,
        dimension=written.dimension,
        chunker=chunker.as_dict(),
        sources=infos,
        chunk_count=written.passages,
        sentence_count=written.sentences,
        index_type=written.index_type,
        built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 3),
        query_encoder=query_encoder,
        skipped=skipped,
        files=files,
    )
    commit(db, manifest)
    return manifest


def _fsync_all(folder: Path) -> None:
    """Every data file on disk before the folder is swapped in."""
    for item in folder.iterdir():
        _fsync(item)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
