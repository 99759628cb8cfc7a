"""Shared fixtures: the real model (loaded once per session), a real index of the article."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from bot.config import BUNDLED_DOCUMENT
from bot.core.answering.engine import QAEngine
from bot.core.index.build import build_index
from bot.core.index.embedding import Embedder
from bot.core.index.snapshot import load_index, read_manifest
from bot.core.settings import AnswerSettings, ChunkerSettings

REPO = Path(__file__).resolve().parent.parent
ARTICLE = BUNDLED_DOCUMENT

# CI runs the property tests on fixed examples, so a red build is reproducible and a green
# one is not luck; local runs draw new examples each time, to find what CI would not.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


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


def run_cli(capture, *args: str) -> tuple[int, str, str]:
    """Run `qabot ARGS` in this process: exit code, stdout, stderr (capsys or capfd)."""
    from bot.cli import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capture.readouterr()
    return info.value.code, out, err


def heavy_imports(args: list[str], heavy: set[str], stdin: str = "") -> set[str]:
    """Which of the `heavy` modules a fresh process holds after `qabot ARGS` succeeds (fed
    `stdin`, for the REPL)."""
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys; from click.testing import CliRunner; from bot.cli.main import cli;"
        "r = CliRunner().invoke(cli, sys.argv[3:], input=sys.argv[2]);"
        "assert r.exit_code == 0, r.output;"
        "print(json.dumps(sorted(set(json.loads(sys.argv[1])) & set(sys.modules))))"
    )
    check = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(sorted(heavy)), stdin, *args],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    return set(json.loads(check.stdout.splitlines()[-1]))


@pytest.fixture(scope="session")
def tiny_reader(tmp_path_factory, engine) -> Path:
    """A real reader, trained here in seconds (one layer, a few steps) on pairs mined with
    qabot's own retrieval from the article's first questions: good for testing how answers
    are made with a reader, not for its judgement."""
    from bot.tools.qaset import load_qa_set
    from bot.tools.reader_data import answer_span, answers
    from bot.tools.reader_train import TrainSettings, train

    pairs = []
    for n, item in enumerate(load_qa_set(REPO / "eval" / "article.yaml").questions[:12]):
        candidates, _ = engine.candidates(item.question, (), 6)
        for c in candidates:
            label = answers(item, c)
            pairs.append(
                {
                    "qid": str(n),
                    "question": item.question,
                    "previous": "",
                    "heading": c.heading,
                    "sentence": c.sentence,
                    "before": c.before,
                    "label": int(label),
                    "span": answer_span(c.sentence, item.answers) if label else None,
                }
            )
    out = tmp_path_factory.mktemp("reader")
    return train(pairs, out, TrainSettings(epochs=1, batch=8, layers=1, max_length=48), print)
