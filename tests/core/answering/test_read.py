"""Answers with a reader over the real article index (a real one, trained in seconds: these
tests are about how answers are made with a reader, not its judgement): every answer's span is
the document's own words inside the quoted sentence, at the offsets it says; an abstention
cites nothing and offers the closest passage apart; at most two sentences, each over the
threshold."""

from __future__ import annotations

import re

import pytest

from bot.core.answering.engine import QAEngine
from bot.core.answering.reader import Reader
from bot.core.settings import AnswerSettings
from bot.core.types import Turn
from bot.tools.evaluation import load_qa_set
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
