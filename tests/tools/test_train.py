"""Training the answer selector, on a tiny slice: examples labelled from a QA set, a model
that trains, saves without the frozen word embeddings, loads, and answers through the
engine with its probability as the score."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.core.selector import WEIGHTS, Selector
from bot.service import QAService, base_model_path
from bot.tools import train
from bot.tools.corpus import Entry
from bot.tools.evaluation import load_qa_set
from tests.conftest import REPO


@pytest.fixture(scope="module")
def article_examples(engine):
    qa_set = load_qa_set(REPO / "eval" / "article.yaml")
    entry = Entry(qa_set, "news", "train")
    return train.examples([entry], lambda _document: QAService(engine))


def test_examples_are_labelled_from_the_qa_set(article_examples):
    positives = [e for e in article_examples if e.label == 1.0]
    assert 50 <= len(positives) < len(article_examples) / 4
    nakano = [e for e in positives if e.question == "Which university does Koichi Nakano teach at?"]
    assert nakano and all("Sophia University" in e.candidate for e in nakano)
    unanswerable = [e for e in article_examples if e.question == "How old is Xi Jinping?"]
    assert unanswerable and all(e.label == 0.0 for e in unanswerable)
    # a follow-up is read with the question it leans on
    assert any(
        e.question.endswith("Which university is he at?") and "Nakano" in e.question
        for e in article_examples
    )


def test_a_tiny_selector_trains_saves_small_and_answers(article_examples, tmp_path, engine):
    out = tmp_path / "selector"
    settings = train.TrainSettings(epochs=1, layers=1, batch_size=8)
    base = base_model_path(load_settings())
    stats = train.train(article_examples[:48], base, out, settings, log=lambda _m: None)
    assert stats["examples"] == 48 and stats["steps"] == 6
    weights = (out / WEIGHTS).stat().st_size
    # one layer in fp16 is about 4 MB; the word embeddings alone would add 23 MB
    assert weights < 5_000_000

    selector = Selector(out, base)
    probabilities = selector.probabilities("Who is Lu Kang?", ["Lu Kang is a spokesman.", "Tea."])
    assert probabilities.shape == (2,) and ((probabilities >= 0) & (probabilities <= 1)).all()

    service = QAService.open(
        load_settings(index_dir=engine.index.directory, selector=str(out), selector_threshold=0)
    )
    answer = service.ask("Who is China's ambassador to Japan?")
    assert answer.threshold == 0 and not answer.abstained and 0 <= answer.score <= 1
    strict = QAService.open(
        load_settings(index_dir=engine.index.directory, selector=str(out), selector_threshold=1)
    )
    assert strict.ask("Who is China's ambassador to Japan?").abstained


def test_a_missing_selector_is_a_clear_error(tmp_path):
    from bot.core.errors import ConfigError

    with pytest.raises(ConfigError, match="no answer selector"):
        Selector(Path(tmp_path), "unused")
