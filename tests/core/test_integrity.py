"""Every data file of an index is checked against the checksum its build recorded: damage
anywhere in any of them is reported, never answered from."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import IndexStoreError
from bot.core.integrity import verify
from bot.core.store import load_index, read_manifest
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def recorded(article_index_dir):
    manifest = read_manifest(article_index_dir)
    assert set(manifest.files) >= {"chunks.jsonl", "chunks.faiss", "sentences.npy"}
    return manifest


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
    target = copy / recorded.data_dir / "chunks.jsonl"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("Japan", "Spain", 1), encoding="utf-8")  # same size
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "index", "status")
    assert code == 1 and "DAMAGED: chunks.jsonl does not match its checksum" in out
    code, out, err = run_cli(capsys, "--index-dir", str(copy), "ask", "Who is Lu Kang?")
    assert code == 1 and "damaged" in err and out == ""
