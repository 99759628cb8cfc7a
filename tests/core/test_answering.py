"""Answers from the real model and index: right passages, exact citations, abstention."""

from __future__ import annotations

import pytest

from bot.core.answering import ABSTAIN_TEXT
from bot.core.errors import QuestionError
from bot.core.questions import is_follow_up
from bot.core.types import Turn
from bot.service import QAService
from bot.tools.evaluation import evaluate, load_qa_set
from tests.conftest import ARTICLE, REPO

ARTICLE_TEXT = ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report(engine):
    return evaluate(QAService(engine), load_qa_set(REPO / "eval" / "article.yaml"))


def test_off_topic_questions_abstain(report):
    abstained = {o.item.question for o in report.outcomes if o.answer.abstained}
    off_topic = {
        "What is the capital of France?",
        "How do I bake sourdough bread?",
        "Who won the 2018 football World Cup?",
    }
    assert off_topic <= abstained
    for o in report.outcomes:
        if o.answer.abstained:
            assert o.answer.text == ABSTAIN_TEXT and o.answer.citations == ()


def test_every_citation_is_the_exact_source_text(report):
    cited = [c for o in report.outcomes for c in o.answer.citations]
    assert len(cited) > 30
    for c in cited:
        assert ARTICLE_TEXT[c.start : c.end] == c.text
        assert f"[{c.n}]" in next(o.answer.text for o in report.outcomes if c in o.answer.citations)


def test_answer_shape(engine):
    answer = engine.answer("How large is Japan's trade surplus with the United States?")
    assert not answer.abstained
    assert "$70 billion" in answer.text and answer.text.endswith("[1]")
    first = answer.citations[0]
    assert first.n == 1 and first.chunk_id.startswith("article#p") and first.paragraphs
    assert set(answer.timings_ms) == {"embed", "search", "select", "total"}
    data = answer.to_dict()
    assert set(data) == {"question", "answer", "abstained", "citations", "timings_ms"}
    assert set(data["citations"][0]) == {
        "n",
        "chunk_id",
        "paragraphs",
        "start",
        "end",
        "score",
        "text",
        "document",
        "locator",
    }
    assert data["citations"][0]["document"] == "article.txt"
    assert data["citations"][0]["locator"] == f"¶{first.paragraphs[0]}"


def test_a_follow_up_changes_the_answer(engine):
    first = engine.answer("Who is the Chinese ambassador to Japan?")
    alone = engine.answer("Which paper did he give an interview to?")
    followed = engine.answer("Which paper did he give an interview to?", [Turn("x", first)])
    assert "South China Morning Post" in followed.text
    assert followed.query != alone.query


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Why did he go?", True),
        ("And when was that?", True),
        ("Where?", True),
        ("Who is the Chinese ambassador to Japan?", False),
        ("What is this article about?", False),
    ],
)
def test_follow_up_detection(question, expected):
    assert is_follow_up(question) is expected


def test_empty_question(engine):
    with pytest.raises(QuestionError):
        engine.answer("   ")


@pytest.mark.parametrize(
    ("question", "why"),
    [
        ("How old is Xi Jinping?", "asks for an age"),
        ("What is Abe's favourite food?", "about 'favourite food'"),
        ("What is the capital of France?", "under the threshold"),
    ],
)
def test_on_topic_questions_the_text_does_not_settle_abstain(engine, question, why):
    answer = engine.answer(question)
    assert answer.abstained, answer.text
    assert why in answer.reason


def test_a_question_asking_for_a_time_gets_a_sentence_with_one(engine):
    answer = engine.answer("When did Abe first attend a reception at China's embassy in Tokyo?")
    assert not answer.abstained
    assert "September 2017" in answer.text
    assert "gives a time" in answer.reason
