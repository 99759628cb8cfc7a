"""Shared fixtures: the real model (loaded once per session), a real index of the article."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import BUNDLED_DOCUMENT
from bot.core.answering import QAEngine
from bot.core.build import build_index
from bot.core.embedding import Embedder
from bot.core.settings import AnswerSettings, ChunkerSettings
from bot.core.store import load_index, read_manifest

REPO = Path(__file__).resolve().parent.parent
ARTICLE = BUNDLED_DOCUMENT


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No developer settings leak in: clean QABOT_*/TELEGRAM_* variables, a fresh cwd."""
    for name in list(os.environ):
        if name.startswith(("QABOT_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = Embedder()
    model.encode_query("load the model once")
    return model


@pytest.fixture(scope="session")
def count_tokens(embedder):
    return embedder.count_tokens


@pytest.fixture(scope="session")
def article_index_dir(tmp_path_factory, embedder) -> Path:
    directory = tmp_path_factory.mktemp("article-index")
    build_index([ARTICLE], directory, embedder, ChunkerSettings())
    return directory


@pytest.fixture(scope="session")
def engine(article_index_dir, embedder) -> QAEngine:
    index = load_index(article_index_dir, read_manifest(article_index_dir))
    qa = QAEngine(index, embedder, AnswerSettings())
    qa.warm_up()
    return qa
