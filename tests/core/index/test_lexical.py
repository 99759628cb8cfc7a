"""Lexical matching: terms, spelling variants, BM25 and coverage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.index.lexical import LexicalIndex, american, terms


@pytest.mark.parametrize(
    ("british", "us"),
    [
        ("licence", "license"),
        ("licences", "licenses"),
        ("organisation", "organization"),
        ("characterise", "characterize"),
        ("honoured", "honored"),
        ("favourite", "favorite"),
        ("behaviour", "behavior"),
        ("centre", "center"),
        ("analysed", "analyzed"),
        ("defence", "defense"),
        ("catalogue", "catalog"),
    ],
)
def test_british_and_american_spellings_are_one_term(british, us):
    assert terms(british) == terms(us)


@pytest.mark.parametrize("word", ["four", "hour", "your", "rise", "wise", "genre", "license"])
def test_short_and_american_words_keep_their_spelling(word):
    assert american(word) == word


def test_a_question_spelt_the_british_way_finds_the_american_passage():
    index = LexicalIndex.build(
        [
            "Each Contributor hereby grants You a world-wide, royalty-free license.",
            "The Initial Developer may publish revised versions of this document.",
        ]
    )
    scores = index.scores(terms("What kind of licence does each contributor give me?"))
    assert scores[0] > 0 and scores[1] == 0
    assert index.coverage(terms("licence"), terms("license")) == 1.0


def test_a_saved_index_scores_as_the_built_one(tmp_path):
    """The index a build saves (memory-mapped when loaded) answers exactly as one built
    from the passages, document frequencies included."""
    from tests.conftest import ARTICLE

    passages = [p for p in ARTICLE.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    built = LexicalIndex.build(passages)
    built.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, len(passages))
    reference = {}
    for p in passages:
        for t in set(terms(p)):
            reference[t] = reference.get(t, 0) + 1
    assert loaded.df == built.df == reference
    for question in ("Who is China's ambassador to Japan?", "trade surplus tariffs", "zebra"):
        q = terms(question)
        assert (loaded.scores(q) == built.scores(q)).all()


def test_a_saved_index_opens_memory_mapped_through_bm25s(tmp_path):
    """Opening reads no array whole, whatever the corpus: bm25s maps its own, and the
    document frequencies are looked up a term at a time in a mapped array."""
    import numpy as np

    passages = ["The ferry leaves the harbour at noon.", "The harbour closes at six."]
    LexicalIndex.build(passages).save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, len(passages))
    assert isinstance(loaded.df.counts, np.memmap)
    [harbour], [ferry], [zebra] = terms("harbour"), terms("ferry"), terms("zebra")
    assert loaded.df[harbour] == 2 and loaded.df[ferry] == 1 and zebra not in loaded.df
    assert len(loaded.df) == len(dict(loaded.df))


_WORDS = st.sampled_from(
    [
        "trade",
        "tariff",
        "surplus",
        "japan",
        "china",
        "summit",
        "ferry",
        "harbour",
        "license",
        "licence",
        "the",
        "of",
        "and",
        "to",
        "organisation",
        "minister",
        "dinner",
        "beijing",
        "tokyo",
        "yen",
        "dollar",
        "export",
        "import",
    ]
)


@settings(max_examples=40, deadline=None)
@given(
    passages=st.lists(st.lists(_WORDS, max_size=30).map(" ".join), min_size=1, max_size=25),
    question=st.lists(_WORDS, min_size=1, max_size=5).map(" ".join),
)
def test_terms_kept_as_integers_score_as_bm25s_over_words(passages, question):
    """A build keeps each passage's terms as integers, not strings (memory): BM25 over them
    scores every passage exactly as bm25s indexing the words themselves."""
    import bm25s
    import numpy as np

    ours = LexicalIndex.build(passages)
    words = bm25s.BM25()
    words.index([terms(p) or ["\x00"] for p in passages], show_progress=False)
    q = [t for t in terms(question) if t in ours.df]
    expected = words.get_scores(q) if q else np.zeros(len(passages), dtype=np.float32)
    assert np.allclose(ours.scores(terms(question)), expected)
