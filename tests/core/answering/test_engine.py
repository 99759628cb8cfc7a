"""Answers from the real model and index: right passages, exact citations, abstention."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.answering.compose import ABSTAIN_TEXT
from bot.core.answering.engine import QAEngine
from bot.core.answering.questions import is_follow_up
from bot.core.errors import QuestionError
from bot.core.index.build import build_index
from bot.core.index.snapshot import load_index, read_manifest
from bot.core.settings import AnswerSettings, ChunkerSettings
from bot.core.types import Turn
from bot.service import QAService
from bot.tools.evaluation import evaluate
from bot.tools.qaset import load_qa_set
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
    assert set(data) == {"question", "answer", "abstained", "span", "citations", "timings_ms"}
    assert data["span"] is None  # only the reader marks a span
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
    # plain text has no sections: the paragraph, and the lines an editor shows
    cited = data["citations"][0]
    text = ARTICLE.read_text(encoding="utf-8")
    lines = text[: cited["start"]].count("\n") + 1, text[: cited["end"] - 1].count("\n") + 1
    where = f"line {lines[0]}" if lines[0] == lines[1] else f"lines {lines[0]}-{lines[1]}"
    assert cited["locator"] == f"¶{first.paragraphs[0]}, {where}"
    assert cited["text"].split()[0] in text.splitlines()[lines[0] - 1]


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


# --- the threshold over larger searches ----------------------------------------------------


@given(
    base=st.floats(-1, 1),
    rise=st.floats(0, 1),
    calibrated=st.integers(1, 100_000),
    passages=st.integers(1, 10**8),
    more=st.integers(0, 10**8),
)
def test_the_threshold_rises_per_tenfold_beyond_the_calibrated_size(
    engine, base, rise, calibrated, passages, more
):
    settings = AnswerSettings(
        abstain_threshold=base, abstain_rise=rise, abstain_calibrated=calibrated
    )
    at = QAEngine(engine.index, engine.embedder, settings).threshold_for
    if passages <= calibrated:
        assert at(passages) == base
    else:
        assert at(passages) == pytest.approx(base + rise * math.log10(passages / calibrated))
    assert at(passages + more) >= at(passages)  # more passages never lower it


def _with(engine: QAEngine, **changes: object) -> QAEngine:
    return QAEngine(engine.index, engine.embedder, AnswerSettings(**changes))


def test_an_answer_over_a_larger_search_needs_the_risen_threshold(engine):
    question = "Who is China's ambassador to Japan?"
    plain = engine.answer(question)
    assert not plain.abstained and plain.threshold == AnswerSettings().abstain_threshold
    # As if the threshold had been chosen on indexes a quarter this size: just under the
    # answer's score it still answers, the same way; just over it, the document doesn't say.
    calibrated = max(1, len(engine.index.chunks) // 4)
    tenfolds = math.log10(len(engine.index.chunks) / calibrated)
    needed = (plain.score - plain.threshold) / tenfolds
    under = _with(engine, abstain_calibrated=calibrated, abstain_rise=needed * 0.9)
    over = _with(engine, abstain_calibrated=calibrated, abstain_rise=needed * 1.1)
    kept = under.answer(question)
    assert kept.text == plain.text and plain.threshold < kept.threshold < plain.score
    refused = over.answer(question)
    assert refused.abstained and refused.threshold > plain.score
    assert "under the threshold" in refused.reason


@pytest.fixture(scope="module")
def two_documents(tmp_path_factory, embedder) -> QAEngine:
    directory = tmp_path_factory.mktemp("two-documents")
    build_index(
        [ARTICLE, REPO / "tests" / "data" / "MPL-2.0.txt"], directory, embedder, ChunkerSettings()
    )
    return QAEngine(load_index(directory, read_manifest(directory)), embedder, AnswerSettings())


def test_asking_one_document_uses_the_threshold_of_its_own_size(two_documents):
    index = two_documents.index
    article = len(index.rows_of("article.txt"))
    assert 0 < article < len(index.chunks)
    engine = _with(two_documents, abstain_calibrated=article, abstain_rise=0.2)
    question = "Who is China's ambassador to Japan?"
    alone = engine.answer(question, document="article.txt")
    assert alone.threshold == AnswerSettings().abstain_threshold
    everywhere = engine.answer(question)
    assert everywhere.threshold == pytest.approx(
        alone.threshold + 0.2 * math.log10(len(index.chunks) / article)
    )


def test_asking_one_document_finds_only_its_passages_ranked_as_a_full_search(two_documents):
    """Within one document, FAISS searches only its rows (an ID selector) and BM25 scores
    only its passages (a weight mask): the passages found are that document's, in the order
    a search of every passage gives them once the other documents' are left out."""
    import numpy as np

    from bot.core.index import vectors
    from bot.core.index.lexical import terms

    engine, index = two_documents, two_documents.index
    question = "Who may modify this licence and distribute it?"
    for document in ("article.txt", "MPL-2.0.txt"):
        rows = index.rows_of(document)
        vector = engine.embedder.encode_query(question)
        _, _, hits, _, _ = engine.search(question, (), None, rows)
        assert hits and all(hit.row in rows for hit in hits)

        depth = min(20, len(rows))
        scores, found = vectors.search(index.vectors, vector, depth, rows)
        all_scores, all_rows = index.vectors.search(vector, index.vectors.ntotal)
        inside = [(s, r) for s, r in zip(all_scores[0], all_rows[0], strict=True) if r in rows]
        assert found[0].tolist() == [r for _, r in inside[:depth]]
        assert scores[0].tolist() == [s for s, _ in inside[:depth]]

        lexical = engine.retriever.lexical
        everywhere = lexical.scores(terms(question))
        outside = np.ones(len(everywhere), dtype=bool)
        outside[rows.start : rows.stop] = False
        assert (lexical.scores(terms(question), rows) == np.where(outside, 0, everywhere)).all()
