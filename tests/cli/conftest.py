"""What the CLI's tests share."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def index_dir(tmp_path, article_index_dir, monkeypatch):
    """A copy of the session's article index, the one every command here opens."""
    target = tmp_path / "index"
    shutil.copytree(article_index_dir, target)
    monkeypatch.setenv("QABOT_INDEX_DIR", str(target))
    return target
