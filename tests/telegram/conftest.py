"""Fixtures of the Telegram tests."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def index_env(tmp_path, article_index_dir) -> dict[str, str]:
    """A copy of the session's article index, as a `qabot` process's environment names it."""
    target = tmp_path / "index"
    shutil.copytree(article_index_dir, target)
    return {"QABOT_INDEX_DIR": str(target)}
