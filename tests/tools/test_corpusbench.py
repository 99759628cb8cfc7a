"""`qabot bench --corpus FOLDER`: a folder built in its own process, measured against the
article alone and the model's own encode."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.config import load_settings
from bot.tools.corpusbench import corpus_build, measured
from bot.tools.latency import QUESTIONS, qabot_command

DATA = Path(__file__).parents[1] / "data"


def test_a_folder_is_built_and_asked_in_processes_of_its_own(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("MPL-2.0.txt", "pyenv-README.md"):
        shutil.copyfile(DATA / name, folder / name)
    shutil.copyfile(DATA / "formats" / "two-pages.pdf", folder / "two-pages.pdf")
    settings = load_settings(index_dir=tmp_path / "unused")
    result = corpus_build(folder, settings, qabot_command, QUESTIONS)
    assert result["documents"] == 3 and result["left_out"] == 0
    assert result["passages"] > 100  # the licence and the README, passage by passage
    assert result["text_mb"] >= 0.01
    # A build holds the model and more; a process's peak is at least the model's.
    assert result["peak_mb"] > 200 and result["one_document_peak_mb"] > 200
    assert result["over_one_document_mb"] == result["peak_mb"] - result["one_document_peak_mb"]
    assert result["build_passages_per_s"] > 0 and result["encode_passages_per_s"] > 0
    assert result["cold_ask_s"] > 0 and result["warm_p50_ms"] > 0


def test_a_failed_command_is_an_error_with_its_output(tmp_path):
    import subprocess

    import pytest

    with pytest.raises(subprocess.CalledProcessError) as info:
        measured(
            qabot_command("--index-dir", str(tmp_path / "i"), "ask", "--doc", "nothing", "why?")
        )
    assert info.value.returncode == 1 and info.value.stderr
