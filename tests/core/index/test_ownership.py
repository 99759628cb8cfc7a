"""The index folder is owned, not shared: qabot writes only where it may and deletes only
what its own builds made, whatever else the folder holds and however it is named."""

from __future__ import annotations

import json
import os
import re
import shutil
import string
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import IndexStoreError
from bot.core.index.build import build_index
from bot.core.index.folder import claim_folder, remove_unused
from bot.core.index.snapshot import MARKER, read_manifest
from bot.core.settings import ChunkerSettings
from tests.conftest import ARTICLE, REPO
from tests.core.index.older import write_schema_3


@pytest.fixture(scope="module")
def older_manifest(tmp_path_factory, article_index_dir):
    """The manifest.json of an index as qabot wrote it before index.db."""
    return write_schema_3(article_index_dir, tmp_path_factory.mktemp("older") / "index")


# Names a user's own files and folders may have, including ones that look like qabot's.
names = st.one_of(
    st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=30),
    st.sampled_from(["data-raw", ".build-x", "data-20240101T000000-abcdef", "data-", "index"]),
    st.from_regex(r"(data|\.build)-\d{8}T\d{6}-[0-9a-f]{6}", fullmatch=True),
).filter(
    lambda n: (
        n not in {".", "..", MARKER, "manifest.json", ".lock", "index.db"}
        and not n.startswith("index.db-")
    )
)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@settings(max_examples=60, deadline=None)
@given(user_names=st.lists(names, min_size=1, max_size=5, unique=True))
def test_a_rebuild_never_removes_what_a_user_put_in_the_folder(tmp_path_factory, user_names):
    index_dir = tmp_path_factory.mktemp("owned")
    claim_folder(index_dir)
    for i, name in enumerate(user_names):
        item = index_dir / name
        if i % 2:
            item.mkdir()
            (item / "notes.csv").write_text("keep me\n")
        else:
            item.write_text("keep me too\n")
    before = _tree(index_dir)
    remove_unused(index_dir, keep="data-20261203T000000-000000")
    assert _tree(index_dir) == before


def test_only_the_leftovers_of_its_own_builds_are_removed(tmp_path):
    claim_folder(tmp_path / "idx")
    index_dir = tmp_path / "idx"
    old = index_dir / "data-20250101T000000-abc123"
    staging = index_dir / ".build-20250101T000000-def456"
    for folder in (old, staging):
        folder.mkdir()
        (folder / "chunks.jsonl").write_text("{}\n")
    remove_unused(index_dir, keep="data-20261203T000000-000000")
    assert not old.exists() and not staging.exists()


@settings(max_examples=30, deadline=None)
@given(user_names=st.lists(names, min_size=1, max_size=4, unique=True))
def test_a_foreign_folder_is_refused_and_left_as_it_was(tmp_path_factory, user_names):
    folder = tmp_path_factory.mktemp("foreign")
    for name in user_names:
        (folder / name).write_text("mine\n")
    before = _tree(folder)
    with pytest.raises(IndexStoreError, match="not a qabot index"):
        claim_folder(folder)
    assert _tree(folder) == before


def test_new_empty_and_older_index_folders_are_claimed(tmp_path, article_index_dir):
    new = tmp_path / "a" / "b"
    claim_folder(new)
    assert (new / MARKER).is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    claim_folder(empty)
    assert (empty / MARKER).is_file()
    # An index without the marker (its database qabot's, by its application_id), or built
    # before the marker existed (a manifest.json of qabot's beside its data folder), is
    # still qabot's own.
    unmarked = tmp_path / "unmarked"
    shutil.copytree(article_index_dir, unmarked)
    (unmarked / MARKER).unlink()
    claim_folder(unmarked)
    assert (unmarked / MARKER).is_file()
    older = tmp_path / "older"
    write_schema_3(article_index_dir, older)
    (older / MARKER).unlink()
    claim_folder(older)
    assert (older / MARKER).is_file()
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(IndexStoreError, match="is a file"):
        claim_folder(file)


def test_build_refuses_a_foreign_folder_before_embedding(tmp_path, embedder):
    (tmp_path / "data-raw").mkdir()
    (tmp_path / "data-raw" / "a.csv").write_text("keep\n")
    with pytest.raises(IndexStoreError, match="not a qabot index"):
        build_index([ARTICLE], tmp_path, embedder, ChunkerSettings())
    assert (tmp_path / "data-raw" / "a.csv").read_text() == "keep\n"
    assert read_manifest(tmp_path) is None and not (tmp_path / MARKER).exists()


@pytest.mark.parametrize("how", ["empty variable", "flag"])
def test_cli_rebuild_never_touches_the_current_folder(tmp_path, how):
    """The issue's reproduction: `QABOT_INDEX_DIR= qabot index rebuild` in a folder holding
    data-raw/ used to delete it; `--index-dir .` likewise."""
    import subprocess

    (tmp_path / "data-raw").mkdir()
    (tmp_path / "data-raw" / "a.csv").write_text("keep\n")
    (tmp_path / ".build-cache").mkdir()
    before = _tree(tmp_path)
    env_args = ["--index-dir", str(tmp_path)] if how == "flag" else []
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": cache,  # the query encoder's export is cached there, not in cwd
        "QABOT_INDEX_DIR": "",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot", *env_args, "index", "rebuild"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    after = {k: v for k, v in _tree(tmp_path).items() if not k.startswith("index/")}
    assert after == before
    assert "Traceback" not in proc.stderr
    if how == "flag":
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and "not a qabot index" in proc.stderr
    else:  # unset: the default ./index, a new folder of its own
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "index" / MARKER).is_file()


def test_an_empty_index_dir_setting_is_never_the_current_folder(tmp_path, monkeypatch, capsys):
    from bot.cli import main
    from bot.config import load_settings

    monkeypatch.setenv("QABOT_INDEX_DIR", "")
    assert load_settings().index_dir == Path("index")  # unset, so the default
    monkeypatch.delenv("QABOT_INDEX_DIR")
    (tmp_path / "q.yaml").write_text('index_dir: ""\n')
    with pytest.raises(SystemExit) as info:
        main(["--config", str(tmp_path / "q.yaml"), "index", "status"])
    assert info.value.code == 1
    assert "error: bad setting 'index_dir': must not be empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--index-dir", "", "index", "rebuild"])
    assert info.value.code == 2 and "must not be empty" in capsys.readouterr().err


# A manifest.json of someone else's: anything at all, or one that looks like qabot's in part.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


def _foreign_manifests(qabot_manifest: dict):
    def without(field):
        return {k: v for k, v in qabot_manifest.items() if k != field}

    return st.one_of(
        st.just(b'{"name": "app", "version": "1.0.0"}\n'),
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        # qabot's own fields, but one of its marks missing: not taken for an index
        st.sampled_from(["schema", "build_id", "data_dir", "model", "sources"])
        .map(without)
        .map(lambda d: json.dumps(d).encode()),
        # a qabot manifest whose data folder is not beside it
        st.just(json.dumps(qabot_manifest).encode()),
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data(), user_names=st.lists(names, max_size=3, unique=True))
def test_a_foreign_manifest_is_never_taken_for_an_index(
    tmp_path_factory, older_manifest, data, user_names
):
    """Whatever a manifest.json holds that is not a qabot index (with its data folder), the
    folder is refused in one line, nothing in it written, read as an index, or replaced."""
    qabot_manifest = older_manifest
    content = data.draw(_foreign_manifests(qabot_manifest))
    folder = tmp_path_factory.mktemp("app")
    (folder / "manifest.json").write_bytes(content)
    for name in user_names:
        (folder / name).write_text("mine\n")
    before = _tree(folder)
    message = re.escape(f"{folder} holds a manifest.json that is not a qabot index; choose")
    with pytest.raises(IndexStoreError, match=message):
        claim_folder(folder)
    with pytest.raises(IndexStoreError, match=message):
        read_manifest(folder)
    assert _tree(folder) == before


def test_a_foreign_manifest_survives_a_build(tmp_path, embedder):
    (tmp_path / "manifest.json").write_text('{"name": "app"}\n')
    (tmp_path / "app.js").write_text("console.log(1)\n")
    before = _tree(tmp_path)
    with pytest.raises(IndexStoreError, match="not a qabot index"):
        build_index([ARTICLE], tmp_path, embedder, ChunkerSettings())
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("command", ["add", "rebuild", "status", "ask"])
def test_cli_never_overwrites_a_foreign_manifest(tmp_path, capsys, command):
    """The issue's reproduction: {"name":"app"} beside app.js, then
    `qabot --index-dir that-folder index add x.txt`: one line, nothing touched."""
    from tests.conftest import run_cli

    app = tmp_path / "app"
    app.mkdir()
    (app / "manifest.json").write_text('{"name":"app"}')
    (app / "app.js").write_text("console.log(1)\n")
    doc = tmp_path / "x.txt"
    doc.write_text("The ferry leaves at noon.\n")
    before = _tree(app)
    args = {
        "add": ["index", "add", str(doc)],
        "rebuild": ["index", "rebuild", "--source", str(doc)],
        "status": ["index", "status"],
        "ask": ["ask", "When does the ferry leave?"],
    }[command]
    code, out, err = run_cli(capsys, "--index-dir", str(app), *args)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"{app} holds a manifest.json that is not a qabot index" in err
    assert _tree(app) == before


def test_an_older_index_without_its_data_folder_is_not_adopted(tmp_path, article_index_dir):
    older = tmp_path / "older"
    data = write_schema_3(article_index_dir, older)
    (older / MARKER).unlink()
    shutil.rmtree(older / data["data_dir"])
    before = _tree(older)
    with pytest.raises(IndexStoreError, match="not a qabot index"):
        claim_folder(older)
    assert _tree(older) == before


def test_an_index_in_a_folder_renamed_to_a_name_that_is_not_utf8_says_so(
    tmp_path, article_index_dir
):
    """Built, then its folder renamed to bytes that are not UTF-8: one line naming the folder
    as it is on disk, not a FAISS error or "damaged"."""
    renamed = Path(os.fsdecode(bytes(tmp_path) + b"/idx\xff"))
    shutil.copytree(article_index_dir, renamed)
    with pytest.raises(IndexStoreError, match=r"idx\\xff has a name that is not UTF-8"):
        read_manifest(renamed)


def _foreign_db(path: Path) -> None:
    """A SQLite database of another program."""
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()


@pytest.mark.parametrize("kind", ["sqlite", "bytes", "empty"])
def test_a_foreign_index_db_is_never_taken_for_an_index(tmp_path, embedder, capsys, kind):
    """A file named index.db that is not qabot's (another program's SQLite database, any
    bytes): the folder is refused in one line by every command, nothing in it touched."""
    from tests.conftest import run_cli

    folder = tmp_path / "app"
    folder.mkdir()
    if kind == "sqlite":
        _foreign_db(folder / "index.db")
    else:
        (folder / "index.db").write_bytes(b"" if kind == "empty" else b"SQLite format 3\0" * 9)
    before = _tree(folder)
    message = re.escape(f"{folder} holds a index.db that is not a qabot index; choose")
    with pytest.raises(IndexStoreError, match=message):
        claim_folder(folder)
    with pytest.raises(IndexStoreError, match=message):
        read_manifest(folder)
    with pytest.raises(IndexStoreError, match=message):
        build_index([ARTICLE], folder, embedder, ChunkerSettings())
    for args in (["index", "status"], ["ask", "Who is Lu Kang?"], ["index", "rebuild"]):
        code, _, err = run_cli(capsys, "--index-dir", str(folder), *args)
        assert code == 1 and err.count("\n") == 1 and "not a qabot index" in err
    assert _tree(folder) == before


def test_another_programs_database_in_an_index_folder_is_not_replaced(tmp_path, embedder):
    """Even in a folder with qabot's marker, a SQLite database of another program named
    index.db is refused, not replaced; a damaged one of qabot's own is replaced by a build."""
    folder = tmp_path / "index"
    claim_folder(folder)
    _foreign_db(folder / "index.db")
    before = (folder / "index.db").read_bytes()
    with pytest.raises(IndexStoreError, match=r"holds a index\.db that is not a qabot index"):
        build_index([ARTICLE], folder, embedder, ChunkerSettings())
    assert (folder / "index.db").read_bytes() == before
    (folder / "index.db").write_bytes(b"damaged beyond reading" * 100)
    with pytest.raises(IndexStoreError, match=r"damaged \(index.db is not a qabot database\)"):
        read_manifest(folder)
    manifest = build_index([ARTICLE], folder, embedder, ChunkerSettings())
    assert read_manifest(folder) == manifest
