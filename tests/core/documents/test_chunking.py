"""Chunking with the real tokenizer: offsets, limits, merging, headings, hard wrapping."""

from __future__ import annotations

import textwrap

import pytest

from bot.core.documents.chunking import chunk_document
from bot.core.documents.sources import load_document
from bot.core.settings import ChunkerSettings
from bot.core.types import Kind, normalize_space
from tests.conftest import ARTICLE


@pytest.fixture(scope="module")
def article():
    return load_document(ARTICLE)


@pytest.fixture(scope="module")
def chunks(article, count_tokens):
    return chunk_document(article, count_tokens, ChunkerSettings())


def test_offsets_round_trip(article, chunks):
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        for s, e in chunk.sentences:
            assert chunk.start <= s < e <= chunk.end


def test_ids_are_unique_and_stable(article, chunks, count_tokens):
    ids = [c.id for c in chunks]
    assert len(set(ids)) == len(ids)
    again = chunk_document(load_document(ARTICLE), count_tokens, ChunkerSettings())
    assert [c.id for c in again] == ids
    assert ids[0] == "article#p2-3"


def test_non_content_never_enters_a_chunk(article, chunks):
    furniture = [p for p in article.paragraphs if p.kind in (Kind.BYLINE, Kind.CAPTION)]
    for chunk in chunks:
        for p in furniture:
            assert p.number not in chunk.paragraphs
            assert article.text[p.start : p.end] not in chunk.text
    everything = " ".join(c.text for c in chunks)
    assert "Source: CNN" not in everything
    assert "(R) shakes hands" not in everything
    assert "Vladivostok" not in everything
    assert "Trump card" not in everything  # headings are context, not cited text


def test_heading_travels_as_context(chunks):
    after = next(c for c in chunks if c.text.startswith("Beijing and Tokyo have historically"))
    assert after.heading == "Trump card"
    assert after.embed_text.startswith("Trump card: Beijing and Tokyo")
    assert chunks[0].heading == ""


def test_short_paragraphs_merge_with_a_neighbour(chunks, count_tokens):
    first = chunks[0]
    assert first.paragraphs == (2, 3)  # "It was the awkward moment…" joins the next paragraph
    assert all(len(c.paragraphs) == 1 or c.paragraphs[-1] - c.paragraphs[0] < 3 for c in chunks)
    for c in chunks:
        assert count_tokens([c.embed_text])[0] <= 256


def test_a_quote_said_by_he_stays_with_the_paragraph_naming_the_speaker(
    tmp_path, chunks, count_tokens
):
    quote = next(c for c in chunks if "We should not sit idly by" in c.text)
    assert "Cheng Yonghua" in quote.text and quote.paragraphs == (39, 40)

    path = tmp_path / "quotes.txt"
    path.write_text(
        "The mayor, Ana Ruiz, opened the new bridge over the river on Monday morning.\n\n"
        "“It took ten years of planning and three budgets to get here,” she said. “Worth it.”\n\n"
        "“Traffic will be lighter from next week,” Ruiz said of the second bridge downstream.\n\n"
        "Critics say the toll is too high for the commuters who need the bridge the most.\n\n"
        "“We will review the toll in a year,” said the council, which sets it every spring.\n",
        encoding="utf-8",
    )
    settings = ChunkerSettings(max_tokens=200, min_tokens=5)
    got = [c.paragraphs for c in chunk_document(load_document(path), count_tokens, settings)]
    # only the quote whose speaker is a pronoun joins the paragraph before it
    assert got == [(1, 2), (3,), (4,), (5,)]


def test_long_paragraphs_split_at_sentences(tmp_path, count_tokens):
    sentence = "The committee reviewed the budget for the new bridge over the river. "
    path = tmp_path / "long.txt"
    path.write_text("Intro paragraph with enough words to stand alone here.\n\n" + sentence * 60)
    doc = load_document(path)
    settings = ChunkerSettings(max_tokens=120, min_tokens=10)
    parts = chunk_document(doc, count_tokens, settings)
    long_parts = [c for c in parts if c.paragraphs == (2,)]
    assert len(long_parts) > 5
    assert [c.id for c in long_parts[:2]] == ["long#p2.1", "long#p2.2"]
    for c in long_parts:
        assert count_tokens([normalize_space(c.text)])[0] <= 120
        assert c.text.startswith("The committee") and c.text.endswith("river.")
        assert doc.text[c.start : c.end] == c.text


def test_one_endless_sentence_is_cut_to_fit(tmp_path, count_tokens):
    path = tmp_path / "runon.txt"
    path.write_text("word " * 2000)
    parts = chunk_document(load_document(path), count_tokens, ChunkerSettings(max_tokens=100))
    assert len(parts) > 10
    assert all(count_tokens([c.text])[0] <= 100 for c in parts)


def test_hard_wrapped_article_chunks_like_the_original(tmp_path, article, chunks, count_tokens):
    wrapped = "\n\n".join(
        textwrap.fill(normalize_space(article.text[p.start : p.end]), 72)
        for p in article.paragraphs
    )
    path = tmp_path / "article.txt"
    path.write_text(wrapped, encoding="utf-8")
    doc = load_document(path)
    again = chunk_document(doc, count_tokens, ChunkerSettings())
    assert [c.id for c in again] == [c.id for c in chunks]
    assert [normalize_space(c.text) for c in again] == [normalize_space(c.text) for c in chunks]
    assert any("\n" in c.text for c in again)  # offsets point into the wrapped source
    for c in again:
        assert doc.text[c.start : c.end] == c.text


def _headings(tmp_path, count_tokens, text: str, name: str = "doc.md") -> dict[str, str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    found = chunk_document(load_document(path), count_tokens, ChunkerSettings(min_tokens=0))
    return {c.text.split()[0]: c.heading for c in found}


def test_a_passage_carries_its_heading_path(tmp_path, count_tokens):
    headings = _headings(
        tmp_path,
        count_tokens,
        """\
        # Guide

        Alpha is the first paragraph of the guide, under its title.

        ## Install

        <!-- introduced_in=v1.0 -->

        Bravo explains how installing works in general terms.

        ### Linux

        Charlie covers the Linux packages that need installing.

        ## Usage

        Delta shows how to run it once it is installed.
        """,
    )
    assert headings == {
        "Alpha": "Guide",
        "Bravo": "Guide › Install",  # an HTML comment is layout, not a heading
        "Charlie": "Guide › Install › Linux",
        "Delta": "Guide › Usage",  # a sibling replaces Install and what lay under it
    }


def test_numbered_sections_nest_by_their_numbers(tmp_path, count_tokens):
    headings = _headings(
        tmp_path,
        count_tokens,
        """\
        Terms of Use

        3. Responsibilities

        Alpha is what section three says about responsibilities here.

        3.1. Distribution of Source Form

        Bravo is what section three point one says about distribution.

        4. Termination

        Charlie is what section four says about ending the licence.

        10.3. Modified Versions

        Delta sits under ten, whose own heading was never recognised.
        """,
        name="terms.txt",
    )
    # A plain title line has no level of its own: the numbered sections replace it.
    assert headings["Alpha"] == "3. Responsibilities"
    assert headings["Bravo"] == "3. Responsibilities › 3.1. Distribution of Source Form"
    assert headings["Charlie"] == "4. Termination"
    assert headings["Delta"] == "10.3. Modified Versions"


def test_a_plain_text_passage_says_its_paragraph_and_lines(tmp_path, count_tokens):
    """What an editor shows: a citation of a hard-wrapped notes file can be found by line."""
    notes = tmp_path / "notes.txt"
    notes.write_text(
        "Ferry times\n\n"  # ¶1, line 1
        "The ferry leaves the harbour at noon on weekdays and at ten on\n"  # ¶2, lines 3-5
        "Saturdays. There is no ferry on Sundays, when the harbour office is\n"
        "closed for maintenance of the slipway and the ticket machines.\n\n"
        "Tickets cost four pounds.\n",  # ¶3, line 7
        encoding="utf-8",
    )
    chunks = chunk_document(load_document(notes), count_tokens, ChunkerSettings(min_tokens=1))
    where = {c.sentence_text(0): c.locator for c in chunks}
    assert where["Tickets cost four pounds."] == "¶3, line 7"
    ferry = next(c for c in chunks if "ferry leaves" in c.text)
    assert ferry.locator == "¶2, lines 3-5"
    assert ferry.label == "notes.txt ¶2, lines 3-5"
