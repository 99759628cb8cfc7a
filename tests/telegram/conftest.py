"""Fixtures of the Telegram tests."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def index_env(tmp_path, article_index_dir):
    """A copy of the article's index, for a `qabot telegram` process of its own."""
    target = tmp_path / "index"
    shutil.copytree(article_index_dir, target)
    return {"QABOT_INDEX_DIR": str(target)}
