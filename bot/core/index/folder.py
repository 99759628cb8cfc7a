"""The index folder: owned, locked, and cleaned of what killed builds left.

qabot writes only into a folder it created or that carries its marker, and removes only the
data and staging folders of its own builds (named by build id, holding only its own files),
the rows of its own unfinished builds, and its own database when it cannot be read: an index
folder pointed at a folder of the user's never costs them a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from bot.core.errors import IndexStoreError
from bot.core.index import legacy, schema
from bot.core.index.schema import DB_FILE
from bot.core.index.snapshot import (
    DATA_FILES,
    MANIFEST,
    MARKER,
    adoptable,
    check_folder_name,
    current_build,
    foreign,
    foreign_manifest,
)
from bot.core.index.writing import forget
from bot.core.types import Notify

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


def remove_if_unused(index_dir: Path) -> None:
    """Remove a folder holding only what claiming it wrote (the marker, the lock file, a
    database without a finished build). A build that claimed it at the same moment has its
    staging folder there: left alone."""
    with contextlib.suppress(OSError):
        names = {p.name for p in index_dir.iterdir()}
        if names <= {MARKER, ".lock", *_DB_FILES} and current_build(index_dir) is None:
            shutil.rmtree(index_dir)


def writable_db(index_dir: Path) -> sqlite3.Connection:
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


def remove_unused(index_dir: Path, keep: str) -> None:
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
