"""The index database's schema: numbered migrations, applied in order, once, each in one
transaction; a database that is not qabot's, or newer than this qabot, is never used."""

from __future__ import annotations

import sqlite3

import pytest

from bot.core.index import schema


def _version(path):
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def test_a_new_database_has_every_migration_and_qabots_mark(tmp_path):
    db = schema.connect(tmp_path, write=True)
    db.close()
    assert _version(tmp_path / schema.DB_FILE) == schema.SCHEMA == len(schema.MIGRATIONS)
    assert schema.is_ours(tmp_path)
    with sqlite3.connect(tmp_path / schema.DB_FILE) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert {"builds", "current", "documents", "passages"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_later_migration_is_applied_once_to_an_older_database(tmp_path, monkeypatch):
    db = schema.connect(tmp_path, write=True)
    db.execute("INSERT INTO builds (id, state, record) VALUES ('b', 'done', '{}')")
    db.close()
    later = [*schema.MIGRATIONS, "ALTER TABLE builds ADD COLUMN note TEXT DEFAULT 'kept'"]
    monkeypatch.setattr(schema, "MIGRATIONS", later)
    monkeypatch.setattr(schema, "SCHEMA", len(later))
    with pytest.raises(sqlite3.DatabaseError, match="open it with write access"):
        schema.connect(tmp_path)  # reading never migrates
    for _ in range(2):  # the second opening finds nothing to do
        db = schema.connect(tmp_path, write=True)
        assert db.execute("SELECT id, note FROM builds").fetchall() == [("b", "kept")]
        db.close()
    assert _version(tmp_path / schema.DB_FILE) == len(later)
    schema.connect(tmp_path).close()


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    schema.connect(tmp_path, write=True).close()
    broken = [*schema.MIGRATIONS, "ALTER TABLE builds ADD COLUMN x TEXT; SELECT * FROM nowhere"]
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    monkeypatch.setattr(schema, "SCHEMA", len(broken))
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        schema.connect(tmp_path, write=True)
    assert _version(tmp_path / schema.DB_FILE) == len(broken) - 1
    with sqlite3.connect(tmp_path / schema.DB_FILE) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(builds)")]
    assert "x" not in columns


def test_a_migration_is_parsed_by_sqlite_not_cut_at_each_semicolon(tmp_path, monkeypatch):
    # A trigger's body and a string hold ";": a migration is one script, run whole.
    schema.connect(tmp_path, write=True).close()
    later = [
        *schema.MIGRATIONS,
        """CREATE TABLE notes (text TEXT DEFAULT 'unused; default');
        CREATE TRIGGER noted AFTER INSERT ON builds BEGIN
            INSERT INTO notes (text) VALUES ('a; b'); INSERT INTO notes (text) VALUES ('c;');
        END""",
    ]
    monkeypatch.setattr(schema, "MIGRATIONS", later)
    monkeypatch.setattr(schema, "SCHEMA", len(later))
    db = schema.connect(tmp_path, write=True)
    db.execute("INSERT INTO builds (id, state) VALUES ('b', 'building')")
    assert db.execute("SELECT text FROM notes").fetchall() == [("a; b",), ("c;",)]
    assert not db.in_transaction
    db.close()
    assert _version(tmp_path / schema.DB_FILE) == len(later)


def test_a_newer_database_is_refused(tmp_path):
    schema.connect(tmp_path, write=True).close()
    with sqlite3.connect(tmp_path / schema.DB_FILE) as db:
        db.execute(f"PRAGMA user_version = {schema.SCHEMA + 1}")
    for write in (False, True):
        with pytest.raises(sqlite3.DatabaseError, match=f"this qabot reads {schema.SCHEMA}"):
            schema.connect(tmp_path, write=write)


def test_another_programs_database_is_not_ours(tmp_path):
    with sqlite3.connect(tmp_path / schema.DB_FILE) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    before = (tmp_path / schema.DB_FILE).read_bytes()
    assert not schema.is_ours(tmp_path)
    for write in (False, True):
        with pytest.raises(schema.NotOurs):
            schema.connect(tmp_path, write=write)
    assert (tmp_path / schema.DB_FILE).read_bytes() == before


def test_opening_an_index_applies_the_migrations_its_database_lacks(
    tmp_path, article_index_dir, embedder, monkeypatch
):
    import shutil

    from bot.core.index.store import IndexStore
    from bot.core.settings import ChunkerSettings

    index_dir = tmp_path / "index"
    shutil.copytree(article_index_dir, index_dir)
    later = [*schema.MIGRATIONS, "CREATE TABLE notes (text TEXT)"]
    monkeypatch.setattr(schema, "MIGRATIONS", later)
    monkeypatch.setattr(schema, "SCHEMA", len(later))
    assert schema.outdated(index_dir)
    index = IndexStore(index_dir).open_updated(embedder, ChunkerSettings(), None, [])
    assert index.chunks[0].text.startswith("It was the awkward")
    assert _version(index_dir / schema.DB_FILE) == len(later) and not schema.outdated(index_dir)
