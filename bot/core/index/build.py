"""Building an index: into a folder qabot owns, under a lock, written aside and swapped in.

A build adds its documents and passages to the database under its own build id (one
transaction), writes its vectors into a new data folder under a temporary name and renames
it, then makes itself the current build in one transaction (the layout is in
bot.core.index.store): that commit is the swap. Until then the previous build and its data
stay untouched, so an interrupted build (Ctrl-C, a crash, a full disk) never leaves a broken
index and never loses the last good one; what it left is removed when the next build takes
the lock. The previous build's passages stay in the database until the build after: a process
still answering from it reads them until it reloads.

qabot writes only into a folder it created or that carries its marker, and removes only the
data and staging folders of its own builds (named by build id, holding only its own files): an
index folder pointed at a folder of the user's never costs them a file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.documents.sources import MAX_SOURCE_BYTES, is_url
from bot.core.errors import IndexStoreError, SourceError
from bot.core.index import legacy, schema
from bot.core.index.embedcache import previous_vectors
from bot.core.index.freshness import Seen, with_seen
from bot.core.index.integrity import checksums
from bot.core.index.reading import read_documents, stored_documents
from bot.core.index.schema import DB_FILE, transaction
from bot.core.index.store import (
    DATA_FILES,
    MANIFEST,
    MARKER,
    adoptable,
    check_folder_name,
    current_record,
    foreign,
    foreign_manifest,
    manifest_text,
)
from bot.core.index.writing import DataWriter, commit, forget
from bot.core.settings import ChunkerSettings
from bot.core.types import SCHEMA_VERSION, Manifest, Notify, Plan, Progress

if TYPE_CHECKING:
    from bot.core.index.embedding import Embedder

_MARKER_TEXT = (
    "This folder holds a qabot index. qabot replaces the data-<build id> folders and\n"
    "index.db here when it rebuilds; it leaves everything else alone.\n"
)
# What a build names its folders: data-20261203T093110-1a2b3c, .build-<same>.
_BUILD_FOLDER = re.compile(r"(data|\.build)-\d{8}T\d{6}-[0-9a-f]{6}")
# What a build writes in its folders (an interrupted one leaves some of them), and what an
# index built before index.db held there.
BUILD_FILES = DATA_FILES | legacy.DATA_FILES
# What an interrupted write of an older qabot's manifest leaves: .manifest.json.1a2b3c.tmp
_TEMP_MANIFEST = re.compile(r"\.manifest\.json\.[0-9a-f]{6}\.tmp")
_DB_FILES = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm")


def claim_folder(index_dir: Path) -> None:
    """Make sure qabot may write in `index_dir`: create it (with the marker), or accept it
    when it carries the marker, holds qabot's index.db (by its application_id) or an index
    built before markers existed (a manifest.json that is qabot's, its data folder beside it:
    store.adoptable), or is empty. A folder with anything else in it, an index.db or a
    manifest.json of someone else's included, is refused untouched;
    so is a path that is not UTF-8 (FAISS takes file names as UTF-8 text: it could not
    write there)."""
    check_folder_name(index_dir)
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexStoreError(f"the index folder {index_dir} is a file, not a folder")
    marker = index_dir / MARKER
    if marker.is_file():
        return
    manifest, db = index_dir / MANIFEST, index_dir / DB_FILE
    if index_dir.is_dir() and (db.exists() or db.is_symlink()):
        if not schema.is_ours(index_dir):
            raise foreign(index_dir, DB_FILE)
    elif index_dir.is_dir() and (manifest.exists() or manifest.is_symlink()):
        if not adoptable(index_dir):
            raise foreign_manifest(index_dir)
    elif index_dir.is_dir() and any(index_dir.iterdir()):
        raise IndexStoreError(
            f"{index_dir} is not empty and is not a qabot index; qabot will not write into "
            "it. Choose a new or empty folder for the index (--index-dir, QABOT_INDEX_DIR)"
        )
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(_MARKER_TEXT, encoding="utf-8")
    except OSError as exc:
        raise IndexStoreError(f"cannot create the index folder {index_dir}: {exc}") from None


@contextlib.contextmanager
def build_lock(index_dir: Path, notify: Notify) -> Iterator[None]:
    """Hold the index folder's build lock. A build holds it from before it makes its staging
    folder until after it removes or renames it, so whoever takes it knows that no build is
    running: any staging folder left then is a killed build's (SIGKILL, a power cut), and is
    removed at once rather than waiting for the next build that succeeds."""
    claim_folder(index_dir)
    with open(index_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            notify(f"waiting for another qabot to finish building the index in {index_dir} …")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            _remove_leftovers(index_dir)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
        return updated
    finally:
        db.close()


def migrate_older(index_dir: Path, notify: Notify) -> None:
    """Bring an index built before index.db up to date (bot.core.index.legacy), under the
    build lock; nothing when there is none (or the folder cannot be written: reading it then
    says so)."""
    if not legacy.older(index_dir) or not os.access(index_dir, os.W_OK):
        return
    with build_lock(index_dir, notify):
        legacy.migrate(index_dir, notify)


def build_index(
    sources: Sequence[str | Path] | Plan,
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    progress: Progress | None = None,
    notify: Notify = lambda _msg: None,
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
        return _build(
            sources, index_dir, embedder, chunker, progress, notify, index_type, max_bytes, refetch
        )
    except BaseException:
        if created:
            _remove_if_unused(index_dir)
        raise


def _remove_if_unused(index_dir: Path) -> None:
    """Remove a folder holding only what claiming it wrote (the marker, the lock file, a
    database without a finished build). A build that claimed it at the same moment has its
    staging folder there: left alone."""
    from bot.core.index.store import current_build

    with contextlib.suppress(OSError):
        names = {p.name for p in index_dir.iterdir()}
        if names <= {MARKER, ".lock", *_DB_FILES} and current_build(index_dir) is None:
            shutil.rmtree(index_dir)


def _build(
    sources: Sequence[str | Path] | Plan,
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    progress: Progress | None,
    notify: Notify,
    index_type: str,
    max_bytes: int,
    refetch: frozenset[str],
) -> Manifest:
    started = time.perf_counter()
    if chunker.max_tokens > embedder.max_tokens:
        raise IndexStoreError(
            f"max_chunk_tokens {chunker.max_tokens} exceeds what the model reads "
            f"({embedder.max_tokens} word pieces)"
        )
    # The whole build holds the lock: a second build waits and then starts from this one's
    # result, instead of both embedding the same text and the last to finish winning.
    with build_lock(index_dir, notify):
        legacy.migrate(index_dir, notify)
        db = _writable_db(index_dir)
        try:
            manifest = _build_in(
                db,
                sources,
                index_dir,
                embedder,
                chunker,
                progress,
                notify,
                index_type,
                max_bytes,
                refetch,
                started,
            )
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the database whole in one file
        finally:
            db.close()
        _remove_unused(index_dir, keep=manifest.data_dir)
    return manifest


def _build_in(
    db: sqlite3.Connection,
    sources: Sequence[str | Path] | Plan,
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    progress: Progress | None,
    notify: Notify,
    index_type: str,
    max_bytes: int,
    refetch: frozenset[str],
    started: float,
) -> Manifest:
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
                    notify,
                    progress,
                    stored,
                    added_at,
                    max_bytes,
                    skipped,
                    kept,
                )
            )
        del stored  # web pages reused: written again by now
        written = writer.finish(progress, index_type)
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


def _writable_db(index_dir: Path) -> sqlite3.Connection:
    """The index's database, created when missing. The folder is qabot's (claim_folder), so
    a database of its own that cannot be read is damage, and replaced; a SQLite database
    without qabot's application_id is another program's, refused untouched."""
    try:
        return schema.connect(index_dir, write=True)
    except (schema.NotOurs, sqlite3.DatabaseError):
        path = index_dir / DB_FILE
        with open(path, "rb") as fh:
            header = fh.read(100)
        if header.startswith(b"SQLite format 3\0") and not schema.is_ours(index_dir):
            raise foreign(index_dir, DB_FILE) from None
    for name in _DB_FILES:
        (index_dir / name).unlink(missing_ok=True)
    return schema.connect(index_dir, write=True)


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


def _remove_unused(index_dir: Path, keep: str) -> None:
    """Old data folders and leftovers of interrupted builds; called while holding the lock.
    Only what a build made: folders named by a build id holding nothing but a build's files,
    and the temporary manifests an older qabot's interrupted write leaves. (A process still
    answering from the previous build has its files mapped; its passages are in index.db.)"""
    for item in index_dir.iterdir():
        if _TEMP_MANIFEST.fullmatch(item.name) and item.is_file() and not item.is_symlink():
            item.unlink(missing_ok=True)
            continue
        if item.name == keep or not _BUILD_FOLDER.fullmatch(item.name):
            continue
        if item.is_dir() and not item.is_symlink() and _only_build_files(item):
            shutil.rmtree(item, ignore_errors=True)


def _remove_leftovers(index_dir: Path) -> None:
    """What killed builds left: their rows in the database, staging folders (.build-<build
    id>, holding only a build's files) and temporary manifests; called as the build lock is
    taken, when no build runs. The data folders stay: a process answering from an older
    build may still read one."""
    try:
        items = list(index_dir.iterdir())
    except OSError:
        return
    if schema.is_ours(index_dir):
        with contextlib.suppress(sqlite3.Error, schema.NotOurs):
            db = schema.connect(index_dir, write=True)
            try:
                unfinished = db.execute("SELECT id FROM builds WHERE state = 'building'")
                forget(db, [build for (build,) in unfinished.fetchall()])
            finally:
                db.close()
    for item in items:
        if _TEMP_MANIFEST.fullmatch(item.name) and item.is_file() and not item.is_symlink():
            item.unlink(missing_ok=True)
        elif (
            item.name.startswith(".build-")
            and _BUILD_FOLDER.fullmatch(item.name)
            and item.is_dir()
            and not item.is_symlink()
            and _only_build_files(item)
        ):
            shutil.rmtree(item, ignore_errors=True)


def _only_build_files(folder: Path) -> bool:
    try:
        return all(f.is_file() and f.name in BUILD_FILES for f in folder.iterdir())
    except OSError:
        return False
