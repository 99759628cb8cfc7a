"""The index database (index.db in the index folder): its schema, numbered migrations, and
opening it.

Tables (migration 1):

    builds        one row per build: `id` (its build id), `state` ('building' until its
                  commit, then 'done'), `record` (what the build recorded: sources, settings,
                  counts, model, the data files' checksums; JSON sealed by its own sha256,
                  checked whole by record.parse_manifest)
    current       one row: the build that answers. Setting it is a build's commit point.
    documents     (build, seq): each document's text and metadata as qabot read it, so a web
                  page is rebuilt without fetching it again, and its checksum
    passages      (build, row): each passage (Chunk as JSON), its first sentence row and
                  sentence count (rows of sentences.npy), its checksum (integrity.
                  passage_digest over all of these: an edited passage is never quoted), and
                  its embedding cache keys (its own, then its sentences', 32 hex digits each)

`PRAGMA application_id` marks the file as qabot's (a foreign file of the same name is never
taken for an index, nor touched); `PRAGMA user_version` is the number of migrations applied.
A migration is appended to MIGRATIONS, never edited (an SQL script, run whole): an index of an
older schema is brought up to date when it is next opened for writing (IndexStore.migrate and
every build do that under the build lock), one transaction per migration.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

DB_FILE = "index.db"
APPLICATION_ID = 0x71614278  # "qaBx"

MIGRATIONS: list[str] = [
    # 1: the tables.
    """
    CREATE TABLE builds (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('building', 'done')),
        record TEXT
    );
    CREATE TABLE current (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        build TEXT NOT NULL REFERENCES builds (id)
    );
    CREATE TABLE documents (
        build TEXT NOT NULL,
        seq INTEGER NOT NULL,
        source TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        pages TEXT NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        digest BLOB NOT NULL,
        PRIMARY KEY (build, seq)
    ) WITHOUT ROWID;
    CREATE TABLE passages (
        build TEXT NOT NULL,
        row INTEGER NOT NULL,
        first_sentence INTEGER NOT NULL,
        sentences INTEGER NOT NULL,
        body TEXT NOT NULL,
        digest BLOB NOT NULL,
        keys BLOB NOT NULL,
        PRIMARY KEY (build, row)
    ) WITHOUT ROWID;
    """,
]
SCHEMA = len(MIGRATIONS)


class NotOurs(Exception):
    """The file is not qabot's database (another program's, or not SQLite at all)."""


def db_path(index_dir: Path) -> Path:
    return index_dir / DB_FILE


def connect(index_dir: Path, write: bool = False) -> sqlite3.Connection:
    """A connection to the index folder's database, usable from any thread (callers that
    share one serialise their use of it). `write`: created when missing and migrated to the
    latest schema; else read only, and `immutable` when the folder cannot be written (WAL
    needs its -shm file beside the database). NotOurs when the file is not qabot's;
    sqlite3.DatabaseError when it is damaged; FileNotFoundError when there is none (read)."""
    path = db_path(index_dir)
    if write:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            _check_ours(db, empty_ok=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            migrate(db)
        except BaseException:
            db.close()
            raise
        return db
    if not path.is_file():
        raise FileNotFoundError(path)
    uri = f"file:{quote(str(path))}?mode=ro"
    if not os.access(index_dir, os.W_OK):
        uri += "&immutable=1"
    try:
        db = _open_ro(uri)
    except sqlite3.OperationalError:
        db = _open_ro(uri + "&immutable=1")  # no -shm and none can be made: nobody writes
    return db


def _open_ro(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        _check_ours(db, empty_ok=False)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA:
            raise sqlite3.DatabaseError(f"it has schema {version}; this qabot reads {SCHEMA}")
        if version < SCHEMA:
            raise sqlite3.DatabaseError(f"it has schema {version}; open it with write access")
    except BaseException:
        db.close()
        raise
    return db


def _check_ours(db: sqlite3.Connection, empty_ok: bool) -> None:
    try:
        app = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise NotOurs(str(exc)) from None
        raise
    if app == APPLICATION_ID or (empty_ok and app == 0 and tables == 0):
        return
    raise NotOurs(f"application_id {app:#x}")


def is_ours(index_dir: Path) -> bool:
    """Whether index.db in `index_dir` is qabot's database (by its application_id)."""
    path = db_path(index_dir)
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError:
        return False
    return (
        len(header) == 100
        and header.startswith(b"SQLite format 3\0")
        and int.from_bytes(header[68:72], "big") == APPLICATION_ID
    )


def outdated(index_dir: Path) -> bool:
    """Whether qabot's database in `index_dir` lacks a migration (False when there is none,
    or it is not qabot's or cannot be read: opening it says so)."""
    if not is_ours(index_dir):
        return False
    try:
        db = sqlite3.connect(f"file:{quote(str(db_path(index_dir)))}?mode=ro", uri=True)
        try:
            return db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA
        finally:
            db.close()
    except sqlite3.Error:
        return False


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations the database lacks, each in one transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA:
        raise sqlite3.DatabaseError(f"it has schema {version}; this qabot reads {SCHEMA}")
    for number in range(version + 1, SCHEMA + 1):
        mark = f"PRAGMA application_id={APPLICATION_ID};" if number == 1 else ""
        # One script, so SQLite parses it (a ";" inside a string or trigger is not cut);
        # its own BEGIN, since executescript would first commit a transaction begun outside.
        script = f"BEGIN IMMEDIATE;{mark}{MIGRATIONS[number - 1]};PRAGMA user_version={number};"
        try:
            db.executescript(script + "COMMIT;")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def settle(db: sqlite3.Connection) -> None:
    """Leave the database whole in one file after writing: its WAL checkpointed into it, and
    back in rollback-journal mode, so that `qabot ask` (a read-only connection) makes no
    -wal or -shm file beside it. While another process has it open (a bot answering from
    it) SQLite refuses the switch at once, and it stays in WAL mode: those files are in use."""
    with contextlib.suppress(sqlite3.OperationalError):
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection):
    """One transaction: committed when the block ends, rolled back when it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
