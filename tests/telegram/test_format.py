"""Telegram HTML: escaping, the reply layout, splitting long replies, and the fake server's
HTML checker that the end-to-end tests rely on."""

from __future__ import annotations

import re

import pytest

from bot.core.types import NO_EXPECTATION, Answer, Citation
from bot.telegram.format import (
    answer_html,
    escape,
    passage_html,
    split_html,
    visible_length,
)
from tests.telegram.fake_server import HTMLError, parse_html, telegram_length

NASTY = 'if a < b && c > d then <b>"bold"</b> &amp; &#x1F600; </i> <script>'


def citation(n: int = 1, text: str = NASTY) -> Citation:
    return Citation(n, f"doc#p{n}", "doc<&>", (n, n + 1), 0, len(text), 0.5, text)


def answer(text: str, citations: tuple[Citation, ...], abstained: bool = False) -> Answer:
    return Answer(
        question="q",
        text=text,
        citations=citations,
        abstained=abstained,
        timings_ms={"total": 1.0},
        query="q",
        expected=NO_EXPECTATION,
        score=0.5,
        threshold=0.32,
    )


@pytest.mark.parametrize(
    "good",
    [
        "plain text",
        "<b>bold</b> <strong>s</strong> <i>i</i><em>e</em><u>u</u><ins>i</ins>",
        "<s>s</s><strike>s</strike><del>d</del><tg-spoiler>x</tg-spoiler>",
        '<span class="tg-spoiler">x</span> <a href="https://example.org/?a=1&amp;b=2">link</a>',
        '<code>x</code> <pre><code class="language-python">x = 1</code></pre>',
        "<blockquote>q</blockquote><blockquote expandable>q</blockquote>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        "&lt;&gt;&amp;&quot; &#60; &#x3C; > alone is fine",
        "<b>nested <i>tags <u>ok</u></i></b>",
    ],
)
def test_html_checker_accepts_telegram_html(good):
    parse_html(good)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("a < b", "Unsupported start tag"),
        ("AT&T", "Unsupported HTML entity"),
        ("&nbsp;", "Unsupported HTML entity"),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("<b>unclosed", 'start tag "b"'),
        ("<b><i>misnested</b></i>", 'start tag "i"'),
        ("stray </b>", "Unexpected end tag"),
        ("<span>x</span>", "tg-spoiler"),
        ("<a>x</a>", "href"),
        ("<b", "Unclosed start tag"),
    ],
)
def test_html_checker_rejects_what_telegram_rejects(bad, why):
    with pytest.raises(HTMLError, match=re.escape(why)):
        parse_html(bad)


def test_html_checker_returns_the_text_telegram_shows():
    assert parse_html("<b>a &lt; b</b> &amp; &#x1F600;") == "a < b & 😀"
    assert telegram_length("😀") == 2


def test_everything_from_the_document_or_user_is_escaped():
    c = citation()
    html = answer_html(answer(f"{NASTY} [1]", (c,)))
    text = parse_html(html)
    assert text.startswith(NASTY + " [1]")
    assert "[1] doc<&> ¶1-2: if a < b" in text
    assert parse_html(passage_html(c)) == f"[1] doc<&> ¶1-2\n{NASTY}"
    assert escape("<&>") == "&lt;&amp;&gt;"


def test_answer_layout():
    cites = (citation(1, "First passage. " * 20), citation(2, "Second one."))
    html = answer_html(answer("One. [1] Two. [2]", cites))
    assert html.startswith("One. <b>[1]</b> Two. <b>[2]</b>\n\n<b>Sources</b>\n<b>[1]</b> ")
    first_source = parse_html(html).splitlines()[3]
    assert first_source.endswith("…") and len(first_source) < 110  # a compact preview
    abstain = answer_html(answer("The document doesn't say.", (), abstained=True))
    assert parse_html(abstain).startswith("The document doesn't say.\n\n")


def test_passage_keeps_paragraphs_and_joins_wrapped_lines():
    c = citation(3, "A hard-wrapped\nline.\n\nNext paragraph.")
    assert parse_html(passage_html(c)).endswith("\nA hard-wrapped line.\n\nNext paragraph.")


def _check_pieces(html: str, limit: int) -> list[str]:
    pieces = split_html(html, limit)
    for piece in pieces:
        assert telegram_length(parse_html(piece)) <= limit  # parses alone, fits
    # Nothing lost or added but whitespace at the cuts.
    original = "".join(parse_html(html).split())
    assert "".join("".join(parse_html(p) for p in pieces).split()) == original
    return pieces


def test_short_reply_is_one_piece():
    assert split_html("<b>hi</b> there") == ["<b>hi</b> there"]


def test_split_prefers_paragraph_boundaries():
    paragraphs = [f"<b>Part {i}</b> " + "word " * 30 for i in range(6)]
    html = "\n\n".join(p.strip() for p in paragraphs)
    pieces = _check_pieces(html, 400)
    assert len(pieces) == 3
    assert all(p.startswith("<b>Part ") for p in pieces)


def test_split_closes_and_reopens_tags_at_a_cut():
    html = "<b>[1] doc ¶2</b>\n<blockquote>" + "&lt;word&gt; " * 200 + "</blockquote>"
    pieces = _check_pieces(html, 300)
    assert len(pieces) > 3
    assert all(p.count("<blockquote>") == 1 and p.endswith("</blockquote>") for p in pieces)
    assert not any(re.search(r"&[a-z]*$|<[^>]*$", p.split("</blockquote>")[0]) for p in pieces)


def test_split_without_spaces_cuts_between_characters_not_inside_entities():
    html = "<i>" + "&amp;" * 50 + "😀" * 50 + "</i>"
    pieces = _check_pieces(html, 64)
    assert all(visible_length(p) <= 64 for p in pieces)


def test_split_never_sends_an_empty_piece():
    pieces = _check_pieces("<b>" + "\n\n" * 50 + "x</b>" + " " * 100 + "y", 10)
    assert [parse_html(p).strip() for p in pieces] == ["x", "y"]


def test_help_names_every_command_the_bot_registers():
    """/help and the command menu (setMyCommands) list the same commands: one added to the
    bot is one a user can find in /help."""
    from bot.telegram.format import help_html
    from bot.telegram.handlers import COMMANDS

    shown = parse_html(help_html("qabot_bot", 1000))
    for name, _ in COMMANDS:
        if name != "start":  # what a user already did to see the bot at all
            assert f"/{name}" in shown, name
