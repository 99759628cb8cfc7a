"""Reading documents: paragraphs, what is not content, sentences, offsets, bad input."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.documents.chunking import heading_label
from bot.core.documents.kinds import classify
from bot.core.documents.sentences import split_sentences
from bot.core.documents.sources import load_document
from bot.core.errors import SourceError
from bot.core.types import Kind, normalize_space
from tests.conftest import ARTICLE


@pytest.fixture(scope="module")
def article():
    return load_document(ARTICLE)


def text_of(doc, paragraph):
    return doc.text[paragraph.start : paragraph.end]


def test_article_furniture_is_recognised(article):
    kinds = {text_of(article, p)[:30]: p.kind for p in article.paragraphs if p.kind != Kind.CONTENT}
    assert kinds == {
        "CNN \xa0—": Kind.BYLINE,
        "China's President Xi Jinping (": Kind.CAPTION,
        "Trump card": Kind.HEADING,
        "02:18 - Source: CNN\nTrump: US ": Kind.CAPTION,
        "Long-running rivalry": Kind.HEADING,
        "‘Highly complimentary’": Kind.HEADING,
        "A much warmer handshake betwee": Kind.CAPTION,
    }


def test_paragraph_and_sentence_offsets_frame_the_text(article):
    for p in article.paragraphs:
        assert text_of(article, p) == text_of(article, p).strip()
        for s, e in p.sentences:
            assert p.start <= s < e <= p.end
            assert article.text[s:e] in article.text[p.start : p.end]
    sentences = [article.text[s:e] for p in article.paragraphs for s, e in p.sentences]
    assert "The country has a trade surplus of nearly $70 billion with the US." in sentences
    assert "In April, Trump tweeted that Japan had “hit us hard on trade for years.”" in sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith met Mr. Jones in the U.S. last week. They talked.", 2),
        ("Section 1.1. applies here. Then 2.3. applies.", 2),
        ("He said “Go now.” She left. It rained!", 3),
        ("Prices rose 3.5 percent in Jan. and fell in Feb. overall.", 1),
    ],
)
def test_sentence_splitting(text, expected):
    assert len(split_sentences(text, 0, len(text))) == expected


@pytest.mark.parametrize(
    ("paragraph", "kind"),
    [
        ("WASHINGTON (Reuters) -", Kind.BYLINE),
        ("Photo: Jane Doe/Getty Images", Kind.CAPTION),
        ("The mayor (L) greets visitors at the fair in Springfield, 2019.", Kind.CAPTION),
        ("A crowd outside the stadium on March 3.", Kind.CAPTION),
        ("The talks ended on March 3.", Kind.CONTENT),
        ("Background", Kind.HEADING),
        ("(c) under Patent Claims infringed by Covered Software.", Kind.CONTENT),
    ],
)
def test_classify(paragraph, kind):
    assert classify(paragraph, index=5) is kind


def test_hard_wrapped_text_reads_like_the_original(tmp_path, article):
    wrapped = "\n\n".join(
        textwrap.fill(normalize_space(text_of(article, p)), 72) for p in article.paragraphs
    )
    path = tmp_path / "wrapped.txt"
    path.write_text(wrapped, encoding="utf-8")
    doc = load_document(path)
    assert [p.kind for p in doc.paragraphs] == [p.kind for p in article.paragraphs]
    assert [normalize_space(text_of(doc, p)) for p in doc.paragraphs] == [
        normalize_space(text_of(article, p)) for p in article.paragraphs
    ]
    assert [len(p.sentences) for p in doc.paragraphs] == [
        len(p.sentences) for p in article.paragraphs
    ]


def test_one_line_per_paragraph_without_blank_lines(tmp_path):
    long_a = "First paragraph sentence that runs on. " * 4
    long_b = "Second paragraph is also long enough to be unwrapped. " * 3
    path = tmp_path / "lines.txt"
    path.write_text(f"{long_a.strip()}\n{long_b.strip()}\n", encoding="utf-8")
    doc = load_document(path)
    assert [p.kind for p in doc.paragraphs] == [Kind.CONTENT, Kind.CONTENT]


def kinds_of_markdown(tmp_path, text: str) -> list[tuple[Kind, str]]:
    """Each paragraph of `text`, read as a Markdown file: its kind and its words."""
    path = tmp_path / "notes.md"
    path.write_text(text, encoding="utf-8")
    doc = load_document(path)
    return [(p.kind, normalize_space(text_of(doc, p))) for p in doc.paragraphs]


def test_markdown(tmp_path):
    kinds = kinds_of_markdown(
        tmp_path,
        "# Release notes\n\nThe tool now starts faster.\n\n## Fixes\n\n"
        "- The index no longer breaks on Ctrl-C.\n- Errors fit on one line.\n\n"
        "```\ncode that is not prose\n```\n",
    )
    assert kinds == [
        (Kind.HEADING, "# Release notes"),
        (Kind.CONTENT, "The tool now starts faster."),
        (Kind.HEADING, "## Fixes"),
        (Kind.CONTENT, "- The index no longer breaks on Ctrl-C."),
        (Kind.CONTENT, "- Errors fit on one line."),
        (Kind.CODE, "``` code that is not prose ```"),
    ]


def test_markdown_layout_is_not_prose(tmp_path):
    url = "https://github.com/example/tool/blob/master/docs/installing-the-build-dependencies.md"
    kinds = kinds_of_markdown(
        tmp_path,
        "## Installation\n\n----\n\n* [Windows](#windows)\n* [Upgrade notes](#upgrade-notes)\n\n"
        "![Terminal output](https://example.com/screen.png)\n\n"
        "<details>\n\n<summary>MacOS</summary>\n\n"
        f"Before you install, set up the [**build dependencies**]({url}) for your\n"
        "system, or the build will fail.\n\n"
        "* *3.7.8-3.7.15* : XCode 13.3\n\n</details>\n",
    )
    assert kinds == [
        (Kind.HEADING, "## Installation"),
        (Kind.MARKUP, "----"),
        (Kind.MARKUP, "* [Windows](#windows)"),  # a table of contents
        (Kind.MARKUP, "* [Upgrade notes](#upgrade-notes)"),
        (Kind.MARKUP, "![Terminal output](https://example.com/screen.png)"),
        (Kind.MARKUP, "<details>"),
        (Kind.HEADING, "<summary>MacOS</summary>"),
        # the long line is long only by its link's URL: the sentence is not cut after it
        (
            Kind.CONTENT,
            f"Before you install, set up the [**build dependencies**]({url}) for your "
            "system, or the build will fail.",
        ),
        (Kind.CONTENT, "* *3.7.8-3.7.15* : XCode 13.3"),  # a list item, not a heading
        (Kind.MARKUP, "</details>"),
    ]
    assert heading_label("<summary>MacOS</summary>") == "MacOS"


def test_crlf_and_bom(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffFirst paragraph here.\r\n\r\nSecond one.\r\n".encode())
    doc = load_document(path)
    assert [doc.text[p.start : p.end] for p in doc.paragraphs] == [
        "First paragraph here.",
        "Second one.",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n \t\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("café au lait".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_input(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        load_document(path)


def test_missing_and_directory(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        load_document(tmp_path / "nope.txt")
    with pytest.raises(SourceError, match="directory"):
        load_document(tmp_path)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("ab \t*-\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")),
        max_size=60,
    )
)
def test_lines_are_read_one_at_a_time_as_splitlines_reads_them(text):
    from bot.core.documents.paragraphs import split_lines

    assert list(split_lines(text)) == text.splitlines(keepends=True)
