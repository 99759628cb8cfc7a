"""Answers with a reader over the real article index (a real one, trained in seconds: these
tests are about how answers are made with a reader, not its judgement): every answer's span is
the document's own words inside the quoted sentence, at the offsets it says; an abstention
cites nothing and offers the closest passage apart; at most two sentences, each over the
threshold."""

from __future__ import annotations

import math
import re

import pytest

from bot.core.answering.engine import QAEngine
from bot.core.answering.reader import Reader
from bot.core.settings import AnswerSettings
from bot.core.types import Turn
from bot.tools.qaset import load_qa_set
from tests.conftest import ARTICLE, REPO

ARTICLE_TEXT = ARTICLE.read_text(encoding="utf-8")
QUESTIONS = load_qa_set(REPO / "eval" / "article.yaml")


@pytest.fixture(scope="module")
def reading(engine, tiny_reader) -> QAEngine:
    """The reader at the median of its own probabilities over the set: some answered, some
    not, whatever a tiny model's probabilities are."""
    reader = Reader(tiny_reader)
    always = QAEngine(
        engine.index, engine.embedder, AnswerSettings(reader_threshold=0.0), reader=reader
    )
    chances = sorted(always.answer(i.question).probability for i in QUESTIONS.questions)
    median = chances[len(chances) // 2]
    settings = AnswerSettings(reader_threshold=median)
    return QAEngine(engine.index, engine.embedder, settings, reader=reader)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_answer_marks_the_documents_own_words(reading):
    answered = abstained = 0
    for item in QUESTIONS.questions:
        answer = reading.answer(item.question)
        assert answer.probability is not None
        if answer.abstained:
            abstained += 1
            assert answer.citations == () and answer.span is None
            assert answer.probability < answer.threshold
            assert all(c.n == 0 for c in answer.closest)
            continue
        answered += 1
        assert answer.probability >= answer.threshold
        assert 1 <= len(answer.citations) <= 2 and answer.text.count("[") <= 2
        span = answer.span
        if span is None:
            continue
        s, e = span.marked
        assert answer.text[s:e] == span.text
        assert flat(ARTICLE_TEXT[span.start : span.end]) == flat(span.text)
        first = answer.citations[0]
        assert first.start <= span.start < span.end <= first.end
    assert answered and abstained  # both kinds of question are in the set


def test_a_follow_up_is_read_with_the_previous_question(reading):
    for conversation in QUESTIONS.conversations:
        history: list[Turn] = []
        for item in conversation:
            answer = reading.answer(item.question, history)
            assert "read" in answer.timings_ms
            history.append(Turn(item.question, answer))


def _with_selector(tiny_reader, tmp_path, weights: dict[str, float]) -> Reader:
    """The tiny reader with a selector of its own that reads only the features `weights`
    names, unscaled, threshold 0 (always answers)."""
    import json
    import shutil

    from bot.core.answering.selector import FEATURES, READER_FEATURES

    folder = tmp_path / "reader"
    shutil.copytree(tiny_reader, folder)
    names = FEATURES + READER_FEATURES
    config = json.loads((folder / "reader.json").read_text())
    config["selector"] = {
        "features": list(names),
        "weights": [weights.get(n, 0.0) for n in names],
        "bias": 0.0,
        "mean": [0.0] * len(names),
        "scale": [1.0] * len(names),
        "threshold": 0.0,
    }
    (folder / "reader.json").write_text(json.dumps(config))
    return Reader(folder)


def test_a_readers_selector_weighs_the_reader_with_what_retrieval_knows(
    engine, tiny_reader, tmp_path
):
    settings = AnswerSettings(reader_threshold=0.0)
    alone = QAEngine(engine.index, engine.embedder, settings, reader=Reader(tiny_reader))
    # A selector that reads only the reader's log-odds says what the reader says.
    logit_only = _with_selector(tiny_reader, tmp_path / "a", {"reader_logit": 1.0})
    same = QAEngine(engine.index, engine.embedder, settings, reader=logit_only)
    # One that reads only similarity answers with the most similar sentence it read,
    # whatever the reader thinks of it.
    similar_only = _with_selector(tiny_reader, tmp_path / "b", {"sentence_similarity": 1.0})
    similar = QAEngine(engine.index, engine.embedder, settings, reader=similar_only)
    for item in QUESTIONS.questions[:15]:
        a, b = alone.answer(item.question), same.answer(item.question)
        assert (a.text, a.citations) == (b.text, b.citations)
        assert b.probability == pytest.approx(a.probability, abs=1e-3)
        candidates, x = similar.candidates(item.question)
        best = int(x[:, 0].argmax())
        answer = similar.answer(item.question)
        assert answer.probability == pytest.approx(1 / (1 + math.exp(-x[best, 0])), abs=1e-6)
        assert candidates[best].sentence in answer.text
        assert x.shape[1] == 18  # the rules' features and the reader's three


def test_a_reader_whose_selector_reads_other_features_is_refused(tiny_reader, tmp_path):
    import json
    import shutil

    from bot.core.errors import ConfigError

    folder = tmp_path / "reader"
    shutil.copytree(tiny_reader, folder)
    config = json.loads((folder / "reader.json").read_text())
    config["selector"] = {
        "features": ["bm25"],
        "weights": [1.0],
        "bias": 0.0,
        "mean": [0.0],
        "scale": [1.0],
        "threshold": 0.5,
    }
    (folder / "reader.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"reads other features .* qabot train"):
        Reader(folder)
