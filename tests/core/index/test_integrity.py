"""Every data file of an index is checked against the checksum its build recorded: damage
anywhere in any of them is reported, never answered from."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import IndexStoreError
from bot.core.index.integrity import verify
from bot.core.index.snapshot import IndexDamaged, load_index, read_manifest
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def recorded(article_index_dir):
    manifest = read_manifest(article_index_dir)
    assert set(manifest.files) >= {"chunks.vectors.npy", "chunks.faiss", "sentences.npy"}
    return manifest


def _db(index_dir):
    return sqlite3.connect(index_dir / "index.db", isolation_level=None)


def _edit_passages(index_dir, sql, *args):
    with _db(index_dir) as db:
        db.execute(sql, args)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    which=st.integers(0, 100),
    where=st.floats(0, 1, exclude_max=True),
    damage=st.sampled_from(["overwrite", "truncate", "append"]),
    junk=st.binary(min_size=1, max_size=64),
)
def test_damage_to_any_data_file_is_reported(
    tmp_path_factory, article_index_dir, recorded, which, where, damage, junk
):
    copy = tmp_path_factory.mktemp("damaged") / "index"
    shutil.copytree(article_index_dir, copy)
    names = sorted(recorded.files)
    path = copy / recorded.data_dir / names[which % len(names)]
    data = bytearray(path.read_bytes())
    at = int(where * len(data))
    if damage == "overwrite":
        end = min(len(data), at + len(junk))
        if bytes(data[at:end]) == junk[: end - at]:
            return  # nothing changed (the junk equals what was there, or nothing is left)
        data[at:end] = junk[: end - at]
    elif damage == "truncate":
        data = data[:at]
    else:
        data += junk
    path.write_bytes(bytes(data))
    with pytest.raises(IndexStoreError, match="damaged"):
        load_index(copy, recorded)
    assert verify(copy / recorded.data_dir, recorded.files, full=True)


def test_status_says_damaged_and_fails(capsys, tmp_path, article_index_dir, recorded):
    copy = tmp_path / "index"
    shutil.copytree(article_index_dir, copy)
    with _db(copy) as db:
        row = db.execute("SELECT min(row) FROM passages WHERE body LIKE '%Japan%'").fetchone()[0]
    _edit_passages(
        copy, "UPDATE passages SET body = replace(body, 'Japan', 'Spain') WHERE row = ?", row
    )
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "index", "status")
    assert code == 1 and f"DAMAGED: passage {row} does not match its checksum" in out
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "ask", "Who is Lu Kang?")
    assert code == 1 and "damaged" in err and out == ""


# --- the manifest, trusted only whole and intact -------------------------------------------

# What a JSON value is, for replacing one with a value of another kind.
KINDS = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "list",
    dict: "dict",
}
VALUES = {
    "null": st.none(),
    "bool": st.booleans(),
    "int": st.integers(-(10**12), 10**12),
    "float": st.floats(),
    "str": st.text(max_size=20),
    "list": st.lists(st.integers(), max_size=3),
    "dict": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
}


def _paths(value, path=()):
    """Every place in a JSON tree: (key or index, …), the root left out."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*path, key)
        if isinstance(item, dict | list):
            yield from _paths(item, (*path, key))


def _at(data, path):
    for key in path:
        data = data[key]
    return data


def _edit(data, path, action, replacement=None):
    parent = _at(data, path[:-1])
    if action == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement


def _write(index_dir, data, reseal=False):
    """The current build's record in the database, replaced by `data` as JSON."""
    from bot.core.index.record import SEAL, manifest_sha256

    if reseal:
        data.pop(SEAL, None)
        data[SEAL] = manifest_sha256(data)
    with _db(index_dir) as db:
        db.execute(
            "UPDATE builds SET record = ? WHERE id = (SELECT build FROM current)",
            (json.dumps(data, indent=2),),
        )


@pytest.fixture(scope="module")
def manifest_json(article_index_dir):
    with _db(article_index_dir) as db:
        (raw,) = db.execute(
            "SELECT record FROM builds WHERE id = (SELECT build FROM current)"
        ).fetchone()
    return json.loads(raw)


def _assert_refused_as_damage(capsys, index_dir):
    """Reading it, `index status` (text and JSON) and service.status all say damaged, in one
    line, never "unexpected" and never "up to date"."""
    from bot.config import load_settings
    from bot.service import status

    with pytest.raises(IndexDamaged) as info:
        read_manifest(index_dir)
    message = str(info.value)
    assert "\n" not in message and "damaged" in message and "qabot index rebuild" in message
    report = status(load_settings(index_dir=index_dir))
    assert report.damage and not report.ok and not report.up_to_date
    code, out, err = run_cli(capsys, "--index-dir", str(index_dir), "index", "status")
    assert code == 1 and "DAMAGED: build record" in out and "up to date" not in out
    assert "unexpected" not in err + out
    code, out, err = run_cli(capsys, "--index-dir", str(index_dir), "index", "status", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["up_to_date"] is False and data["damage"]
    assert "unexpected" not in err


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(which=st.integers(0, 10**6), action=st.sampled_from(["remove", "retype"]), data=st.data())
def test_a_manifest_with_any_field_removed_or_retyped_is_damage(
    capsys, tmp_path_factory, article_index_dir, manifest_json, which, action, data
):
    """Anywhere in the manifest, at any depth: its checksum no longer matches, or a check of
    its fields fails; either way it is damage, reported as such."""
    copy = tmp_path_factory.mktemp("manifest") / "index"
    shutil.copytree(article_index_dir, copy)
    edited = copy_of(manifest_json)
    paths = list(_paths(edited))
    path = paths[which % len(paths)]
    kind = KINDS[type(_at(edited, path))]
    other = data.draw(st.sampled_from(sorted(set(VALUES) - {kind})).flatmap(VALUES.get))
    _edit(edited, path, action, other)
    _write(copy, edited)
    _assert_refused_as_damage(capsys, copy)


def _record_field(path) -> bool:
    """A field of a record with fixed fields: removing it leaves a manifest no build writes."""
    from bot.core.index.snapshot import REQUIRED_FILES

    return (
        len(path) == 1
        or (path[0] in ("sources", "files") and len(path) == 3)
        or (path[0] == "files" and len(path) == 2 and path[1] in REQUIRED_FILES)
        or (path[0] == "query_encoder" and len(path) == 2)
    )


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(which=st.integers(0, 10**6), action=st.sampled_from(["remove", "retype"]), data=st.data())
def test_the_field_checks_alone_refuse_what_a_build_never_writes(
    capsys, tmp_path_factory, article_index_dir, manifest_json, which, action, data
):
    """The same edits with the manifest's checksum made again to match: the checks of every
    field's presence and type refuse them without it."""
    from bot.core.index.record import SEAL

    copy = tmp_path_factory.mktemp("resealed") / "index"
    shutil.copytree(article_index_dir, copy)
    edited = copy_of(manifest_json)
    paths = [p for p in _paths(edited) if p[0] != SEAL]
    if action == "remove":
        paths = [p for p in paths if _record_field(p)]
    path = paths[which % len(paths)]
    kinds = set(VALUES) - {KINDS[type(_at(edited, path))]}
    if path == ("query_encoder",):
        kinds -= {"null"}  # None is what a build without the ONNX export writes there
    other = data.draw(st.sampled_from(sorted(kinds)).flatmap(VALUES.get))
    _edit(edited, path, action, other)
    _write(copy, edited, reseal=True)
    _assert_refused_as_damage(capsys, copy)


def copy_of(data):
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    ("edit", "reseal"),
    [
        # the issue's edits, each once as a hand edit and once with the checksum made again
        *(
            (edit, reseal)
            for reseal in (False, True)
            for edit in (
                "no files",
                "empty files",
                "chunk_count + 1",
                "dimension + 1",
                "sentence_count + 1",
                "chunk_count many",
                "chunker null",
                "data_dir elsewhere",
            )
        ),
        ("no checksum", False),
    ],
)
def test_the_issues_manifest_edits_are_damage_everywhere(
    capsys, tmp_path, article_index_dir, manifest_json, edit, reseal
):
    """Status says DAMAGED (JSON: ok false, up_to_date false), loading refuses, and asking
    says in one line how to rebuild: never "up to date", never "unexpected"."""
    from bot.config import load_settings
    from bot.core.index.record import SEAL
    from bot.service import status

    copy = tmp_path / "index"
    shutil.copytree(article_index_dir, copy)
    data = copy_of(manifest_json)
    match edit.split():
        case ["no", "files"]:
            del data["files"]
        case ["empty", "files"]:
            data["files"] = {}
        case [field, "+", "1"]:
            data[field] += 1
        case ["chunk_count", "many"]:
            data["chunk_count"] = "many"
        case ["chunker", "null"]:
            data["chunker"] = None
        case ["data_dir", "elsewhere"]:
            data["data_dir"] = "../" + data["data_dir"]
        case ["no", "checksum"]:
            del data[SEAL]
    _write(copy, data, reseal=reseal)
    report = status(load_settings(index_dir=copy))
    assert report.damage and not report.ok and not report.up_to_date
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "index", "status", "--json")
    assert code == 1 and json.loads(out)["ok"] is False
    assert json.loads(out)["up_to_date"] is False
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "index", "status")
    assert code == 1 and "DAMAGED: " in out and "up to date" not in out
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "ask", "Who is Lu Kang?")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "damaged" in err and "qabot index rebuild" in err and "unexpected" not in err


def test_every_field_of_a_manifest_has_its_check():
    from dataclasses import fields

    from bot.core.index.record import MANIFEST_FIELDS, SOURCE_FIELDS
    from bot.core.types import Manifest, SourceInfo

    assert set(MANIFEST_FIELDS) == {f.name for f in fields(Manifest)}
    assert set(SOURCE_FIELDS) == {f.name for f in fields(SourceInfo)}


def test_a_build_writes_a_manifest_its_checks_accept(article_index_dir, manifest_json):
    from bot.core.index.record import SEAL, manifest_sha256

    seal = manifest_json.pop(SEAL)
    assert seal == manifest_sha256(manifest_json)
    assert read_manifest(article_index_dir).chunk_count == manifest_json["chunk_count"]


def test_status_json_has_one_field_a_script_can_trust(capsys, tmp_path, article_index_dir):
    copy = tmp_path / "index"
    shutil.copytree(article_index_dir, copy)
    code, out, _ = run_cli(capsys, "--index-dir", str(copy), "index", "status", "--json")
    assert code == 0 and json.loads(out)["ok"] is True and json.loads(out)["damage"] is None
    manifest = read_manifest(copy)
    vectors = copy / manifest.data_dir / "sentences.npy"
    raw = bytearray(vectors.read_bytes())
    raw[-1] ^= 0xFF
    vectors.write_bytes(bytes(raw))
    code, out, _ = run_cli(capsys, "--index-dir", str(copy), "index", "status", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["up_to_date"] is False
    assert report["damage"] == "sentences.npy does not match its checksum"


# --- passages, checked whenever they are read ----------------------------------------------


@pytest.fixture
def large(monkeypatch):
    """Every index counts as large: its files are checked by size at load, not hashed (the
    limit is read at each load)."""
    from bot.core.index import integrity

    monkeypatch.setattr(integrity, "VERIFY_LIMIT", 0)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    which=st.integers(0, 10**6),
    where=st.floats(0, 1, exclude_max=True),
    junk=st.text(min_size=1, max_size=16),
)
def test_an_edit_of_any_passage_is_never_read(
    large, tmp_path_factory, article_index_dir, recorded, which, where, junk
):
    """A passage's text edited anywhere in the database, in an index too large to hash at
    load: it loads, and the edited passage is damage when read; every other passage reads as
    its build wrote it."""
    copy = tmp_path_factory.mktemp("edited") / "index"
    shutil.copytree(article_index_dir, copy)
    row = which % recorded.chunk_count
    with _db(copy) as db:
        (body,) = db.execute(
            "SELECT body FROM passages WHERE build = ? AND row = ?", (recorded.build_id, row)
        ).fetchone()
    at = int(where * len(body))
    edited = body[:at] + junk + body[at + len(junk) :]
    if edited == body:
        return
    _edit_passages(copy, "UPDATE passages SET body = ? WHERE row = ?", edited, row)
    intact = load_index(article_index_dir, recorded)
    index = load_index(copy, recorded)
    for other in range(len(index.chunks)):
        if other == row:
            with pytest.raises(IndexStoreError, match="damaged") as info:
                index.chunks[other]
            assert "\n" not in str(info.value)
        else:
            assert index.chunks[other] == intact.chunks[other]
    with pytest.raises(IndexStoreError, match="damaged"):
        list(index.chunks)


def test_an_answer_never_quotes_an_edited_passage(
    large, capsys, tmp_path, embedder, article_index_dir, recorded
):
    """The issue's case: the passage that answers, edited in an index too large to hash at
    load. The answer is an error saying how to rebuild, never the edit."""
    from bot.core.answering.engine import QAEngine
    from bot.core.settings import AnswerSettings

    copy = tmp_path / "index"
    shutil.copytree(article_index_dir, copy)
    with _db(copy) as db:
        assert db.execute("SELECT count(*) FROM passages WHERE body LIKE '%Cheng Yonghua%'")
    _edit_passages(
        copy, "UPDATE passages SET body = replace(body, 'Cheng Yonghua', 'Chen Yonghuan')"
    )
    engine = QAEngine(load_index(copy, recorded), embedder, AnswerSettings())
    with pytest.raises(IndexStoreError, match=r"damaged.*qabot index rebuild"):
        engine.answer("Who is China's ambassador to Japan?")
    code, out, err = run_cli(
        capsys, "--index-dir", str(copy), "ask", "Who is China's ambassador to Japan?"
    )
    assert code == 1 and out == "" and "Chen Yonghuan" not in err
    assert err.count("\n") == 1 and "damaged" in err and "unexpected" not in err
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "index", "status")
    assert code == 1 and "DAMAGED: passage" in out and "does not match its checksum" in out


def test_damaged_checksums_of_passages_are_damage_too(large, tmp_path, article_index_dir, recorded):
    """A passage's recorded checksum changed: the passage is damage, whatever the text."""
    copy = tmp_path / "index"
    shutil.copytree(article_index_dir, copy)
    _edit_passages(copy, "UPDATE passages SET digest = x'0001020304050607' WHERE row = 3")
    index = load_index(copy, recorded)
    assert index.chunks[2] and index.chunks[4]
    with pytest.raises(IndexStoreError, match=r"passage 3 does not match its checksum"):
        index.chunks[3]
    with pytest.raises(IndexStoreError, match=r"passage 3 does not match its checksum"):
        load_index(copy, recorded).chunks.sentence_rows(3)


def test_an_edited_document_is_damage_and_never_reused(capsys, tmp_path, article_index_dir):
    """A document's stored text (what citations' offsets and rebuilds of web pages read)
    edited in the database: `index status` says so, and a build does not reuse it."""
    from bot.core.index.reading import stored_documents

    copy = tmp_path / "index"
    shutil.copytree(article_index_dir, copy)
    build = read_manifest(copy).build_id
    with _db(copy) as db:
        assert stored_documents(db, build, lambda _source: True)
    _edit_passages(copy, "UPDATE documents SET text = replace(text, 'Japan', 'Spain')")
    code, out, _ = run_cli(capsys, "--index-dir", str(copy), "index", "status")
    assert code == 1 and "DAMAGED: document 0 does not match its checksum" in out
    with _db(copy) as db:
        assert stored_documents(db, build, lambda _source: True) == {}
