"""Training the answer selector: examples labelled from a QA set through the bot's own
retrieval, a fitted model whose probabilities rank answers above non-answers, a threshold
chosen on another document, and the engine abstaining by it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bot.config import load_settings
from bot.core.answering.selector import FEATURES, Selector, fit
from bot.core.errors import ConfigError
from bot.service import QAService
from bot.tools import train
from bot.tools.corpus import Entry
from bot.tools.qaset import load_qa_set
from tests.conftest import REPO


@pytest.fixture(scope="module")
def article_examples(engine):
    entry = Entry(load_qa_set(REPO / "eval" / "article.yaml"), "news", "train")
    return train.examples([entry], lambda _document: QAService(engine))


def test_examples_are_labelled_from_the_qa_set(article_examples):
    data = article_examples
    assert len(data) == 72 + 21 + 26  # every question, conversation turns included
    assert all(
        x.shape == (len(y), len(FEATURES)) for x, y in zip(data.features, data.labels, strict=True)
    )
    answered = [y.any() for y, ok in zip(data.labels, data.answerable, strict=True) if ok]
    assert sum(answered) > 0.8 * len(answered)  # most answers are among the candidates
    assert not any(y.any() for y, ok in zip(data.labels, data.answerable, strict=True) if not ok)


def test_a_fitted_selector_ranks_answers_first_and_round_trips(article_examples, tmp_path):
    selector = train.fit_selector(article_examples)
    x = np.vstack(article_examples.features)
    y = np.concatenate(article_examples.labels)
    p = selector.probabilities(x)
    assert ((p > 0) & (p < 1)).all()
    assert p[y == 1].mean() > 2 * p[y == 0].mean()
    path = tmp_path / "selector.json"
    path.write_text(selector.to_json(), encoding="utf-8")
    again = Selector.load(path)
    assert np.allclose(again.probabilities(x), p, atol=1e-4)


def test_the_threshold_keeps_false_abstention_in_bounds(article_examples):
    selector = train.fit_selector(article_examples)
    threshold, figures = train.choose_threshold(selector, article_examples)
    assert 0 < threshold < 1
    assert figures["vetoed_answerable"] <= train.MAX_FALSE_ABSTENTION
    assert figures["vetoed_unanswerable"] > 0


def test_the_engine_abstains_by_the_selector(article_examples, engine, tmp_path):
    path = tmp_path / "selector.json"
    selector = dataclasses.replace(train.fit_selector(article_examples), threshold=0.0)
    path.write_text(selector.to_json(), encoding="utf-8")
    question = "Who is China's ambassador to Japan?"
    open_with = lambda t: QAService.open(  # noqa: E731
        load_settings(index_dir=engine.index.directory, selector=str(path), selector_threshold=t)
    )
    assert "Cheng Yonghua" in open_with(0.0).ask(question).text
    vetoed = open_with(1.0).ask(question)
    assert vetoed.abstained and "answer selector" in vetoed.reason


def test_fit_separates_a_simple_class(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES)))
    y = (x[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(float)
    p = fit(x, y).probabilities(x)
    assert ((p > 0.5) == (y == 1)).mean() > 0.95


def test_a_missing_or_foreign_selector_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no answer selector"):
        Selector.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(
        '{"features": ["x"], "weights": [1], "bias": 0, "mean": [0], "scale": [1], '
        '"threshold": 0.5}'
    )
    with pytest.raises(ConfigError, match="other features"):
        Selector.load(tmp_path / "other.json")
