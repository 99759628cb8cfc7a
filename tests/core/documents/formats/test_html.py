"""Reading HTML pages: main content kept with its headings, boilerplate gone, bytes decoded."""

from __future__ import annotations

import codecs
import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.documents.formats.html import extract_html
from bot.core.documents.paragraphs import parse_paragraphs
from bot.core.errors import SourceError
from bot.core.types import Kind

ARTICLE = [
    "The widget server reads its settings from a single file called widgets.toml, which lives "
    "next to the binary. Every option has a default, so an empty file is a valid configuration.",
    "By default the server listens on port 8080 on all interfaces. Set listen_address to bind a "
    "single interface instead, for example when a reverse proxy runs on the same machine.",
    "When a proxy terminates TLS, set trusted_proxies to the proxy's address so that client "
    "addresses in the logs are the real ones and not the proxy's. See the proxy guide for details.",
    "Logs go to standard error in a line-oriented format. Raise the level to debug while you "
    "diagnose a problem, and lower it again afterwards, because debug logging slows requests.",
]
CODE = '[server]\nlisten_address = "127.0.0.1"\nport = 8080'
OUTPUT = "$ widgetd --check\nconfig ok: 3 listeners"  # a <pre> without <code>
BOILERPLATE = [
    "Products",  # the menu
    "Site-wide tagline",  # the header
    "We use cookies",  # the banner
    "Accept all cookies",
    "tracking code",  # a script
    "font-family",  # a style sheet
    "Related articles",  # the aside
    "Upgrading from version 1",
    "Copyright 2024",  # the footer
    "Privacy policy",
    "You may also like",  # teasers in plain <div>s after the article
    "Ten tips for widgets",
]
PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Configuring the Widget Server | Example Docs</title>
<style>body {{ font-family: sans-serif; }}</style>
<script>window.track = function () {{ return "tracking code"; }};</script>
</head><body>
<header><div class="logo">Example Corp</div><p>Site-wide tagline nobody reads</p></header>
<nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/p">Products</a></li>
<li><a href="/pricing">Pricing</a></li><li><a href="/contact">Contact us</a></li></ul></nav>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience.
<button>Accept all cookies</button></div>
<main><article>
<h1>Configuring the Widget Server</h1>
<p>{ARTICLE[0].replace("widgets.toml", "<code>widgets.toml</code>")}</p>
<h2>Ports and addresses<a class="headerlink" href="#ports">¶</a></h2>
<p>{ARTICLE[1].replace("listen_address", "<strong>listen_address</strong>")}</p>
<ul><li>Port 8080 serves the public API.</li><li>Port 9090 serves the <em>metrics</em>
endpoint.</li><li>Port 7070 is reserved for the admin console.</li></ul>
<h3>Running behind a proxy</h3>
<p>{ARTICLE[2].replace("the proxy guide", '<a href="/proxy">the proxy guide</a>')}</p>
<pre><code>{html.escape(CODE)}</code></pre>
<p>Check the file before you restart:</p>
<pre>{html.escape(OUTPUT)}</pre>
<h2>Logging</h2>
<p>{ARTICLE[3]}</p>
<table><tr><th>Level</th><th>Meaning</th></tr><tr><td>info</td><td>normal operation</td></tr>
<tr><td>debug</td><td>everything, slow</td></tr></table>
</article>
<div class="related-posts"><p>You may also like:</p><div class="teaser"><a href="/t">Ten tips for
widgets</a></div></div>
<aside class="sidebar"><h4>Related articles</h4><ul><li><a href="/a">Installing it</a></li>
<li><a href="/b">Upgrading from version 1</a></li></ul></aside></main>
<footer><p>Copyright 2024 Example Corp. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a></p></footer>
</body></html>"""


def assert_clean(text: str) -> None:
    """The text contract every format keeps."""
    assert text == text.strip() and text
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", text)
    assert "\n\n\n" not in text
    assert all(line == line.rstrip() for line in text.split("\n"))


def squash(text: str) -> str:
    return " ".join(text.split())


def page(body: str, head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>".encode()


def test_a_real_page_keeps_its_article_and_drops_the_rest():
    got = extract_html(PAGE.encode(), url="https://docs.example.com/widgets")
    assert got.format == "html" and got.pages == ()
    assert got.title == "Configuring the Widget Server | Example Docs"
    assert_clean(got.text)
    lines = got.text.split("\n")
    headings = [line for line in lines if line.startswith("#")]
    assert headings == [
        "# Configuring the Widget Server",
        "## Ports and addresses",
        "### Running behind a proxy",
        "## Logging",
    ]
    for paragraph in ARTICLE:
        assert paragraph in lines  # verbatim, one line each, emphasis and link markup gone
    assert "- Port 9090 serves the metrics endpoint." in lines
    assert f"```\n{CODE}\n```" in got.text and f"```\n{OUTPUT}\n```" in got.text
    assert "Level | Meaning" in lines and "debug | everything, slow" in lines
    for furniture in BOILERPLATE:
        assert furniture not in got.text
    assert not re.search(r"[<>*\\]|\]\(", got.text)  # no tags, Markdown emphasis, escapes, links


def test_the_paragraph_reader_sees_headings_code_and_prose():
    text = extract_html(PAGE.encode()).text
    paragraphs = parse_paragraphs(text)
    kinds = {text[p.start : p.end]: p.kind for p in paragraphs}
    assert kinds["# Configuring the Widget Server"] is Kind.HEADING
    assert kinds["### Running behind a proxy"] is Kind.HEADING
    assert [p.kind for p in paragraphs].count(Kind.HEADING) == 4
    assert kinds[f"```\n{CODE}\n```"] is Kind.CODE
    assert all(kinds[paragraph] is Kind.CONTENT for paragraph in ARTICLE)


def test_a_minimal_page_still_reads_with_its_heading():
    got = extract_html(page("<h1>Tiny page</h1><p>First short line.</p><p>Second one.</p>"))
    assert got.text == "# Tiny page\n\nFirst short line.\n\nSecond one."
    assert got.title == ""


def test_a_plain_page_without_article_markup_reads_whole():
    body = (
        "<nav><a href='/'>Home</a> <a href='/x'>Elsewhere</a></nav>"
        "<div><h2>Opening hours</h2>Monday to Friday, nine to five.<br>Saturday, ten to one."
        "<h2>Address</h2><p>12 High Street</p><ol><li>Take the bus</li><li>Walk north<ul>"
        "<li>past the church</li></ul></li></ol></div><footer>Copyright nobody</footer>"
    )
    got = extract_html(page(body, "<title> Shop \n info </title>"))
    assert got.title == "Shop info"
    assert got.text == (
        "## Opening hours\n\nMonday to Friday, nine to five.\nSaturday, ten to one.\n\n"
        "## Address\n\n12 High Street\n\n1. Take the bus\n\n2. Walk north\n\n- past the church"
    )


@pytest.mark.parametrize(
    ("encoding", "head"),
    [
        ("latin-1", '<meta charset="iso-8859-1">'),
        ("cp1252", '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'),
        ("latin-1", '<?xml version="1.0" encoding="ISO-8859-1"?>'),  # XHTML
        ("utf-8", ""),  # undeclared: read as UTF-8 (libxml2 alone would assume Latin-1)
        ("utf-8-sig", ""),
        ("utf-16", '<meta charset="utf-16">'),  # the BOM decides
        ("utf-8", '<meta charset="utf-16">'),  # impossible in ASCII bytes: UTF-8
    ],
)
def test_bytes_are_decoded_as_the_page_declares(encoding, head):
    words = "Crème brûlée, naïve café: «quoted» at ±5 °C"
    prolog, head = (head, "") if head.startswith("<?xml") else ("", head)
    data = f"{prolog}<html><head>{head}<title>Café</title></head><body><p>{words}</p></body></html>"
    got = extract_html(data.encode(encoding))
    assert got.text == words and got.title == "Café"


def test_a_wrong_declaration_does_not_garble_utf8():
    data = '<html><head><meta charset="ascii"></head><body><p>Grüße aus Köln</p></body></html>'
    assert extract_html(data.encode()).text == "Grüße aus Köln"


def test_control_characters_and_line_endings_are_cleaned():
    body = "<p>Red\x1b[31m alert\x07 here</p>\r\n<pre>a = 1\r\nb = 2\x0c\r\n\r\n\r\n\r\nc</pre>"
    body += "<p>Soft&shy;hyphen\x85ated<br>~~~~~~~~~~<br>under\u2028lined</p>"
    text = extract_html(page(body)).text
    assert_clean(text)
    # (a line of ~~~ in prose would open a code block for the paragraph reader)
    assert text == "Red alert here\n\n```\na = 1\nb = 2\n\nc\n```\n\nSofthyphenated\nunder lined"


def test_an_old_layout_table_is_read_as_containers():
    body = (
        "<table><tr><td><a href='/'>Home</a></td><td><h1>Annual report</h1><p>Sales rose by a"
        " tenth.</p><table><tr><th>Year</th><th>Sales</th></tr><tr><td>2023</td><td>110</td>"
        "</tr></table></td></tr></table>"
    )
    text = extract_html(page(body)).text
    assert "# Annual report\n\nSales rose by a tenth.\n\nYear | Sales\n2023 | 110" in text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no readable text"),
        (b" \n\t \r\n", "no readable text"),
        (b"<html><body>  </body></html>", "no readable text"),
        (page("<script>var x = 1;</script><style>p {}</style><img src='a.png'>"), "no readable"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (codecs.BOM_UTF8 + b"<p>\x00\x01\x02</p>", "binary"),
    ],
)
def test_unreadable_input_is_a_source_error(data, reason):
    with pytest.raises(SourceError, match=reason) as info:
        extract_html(data)
    assert "\n" not in str(info.value) and str(info.value)[0].islower()


words = st.text(
    st.characters(categories=("L", "N", "P", "S"), exclude_characters="\x7f"), min_size=1
)
# (a line of only ``` or ~~~ is dropped on purpose: it would open a code block)
paragraphs = st.lists(words, min_size=1, max_size=12).map(" ".join)
paragraphs = paragraphs.filter(lambda text: not re.fullmatch(r"[`~]{3,}", text))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(paragraphs, min_size=1, max_size=8))
def test_every_article_paragraph_survives(texts):
    body = "<nav><a href='/'>Home</a></nav><article>"
    body += "".join(f"<p>{html.escape(text)}</p>" for text in texts)
    got = squash(extract_html(page(body + "</article><footer>Imprint</footer>")).text)
    for text in texts:
        assert squash(text) in got


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode)))
def test_any_bytes_give_clean_text_or_a_source_error(data):
    try:
        got = extract_html(data)
    except SourceError:
        return
    assert_clean(got.text)
    assert got.title == got.title.strip()


GROUPS = """<main><h1>System groups</h1><p>Groups a Debian system ships with.</p>
<h2>Administrative groups</h2><p>The sudo group lets members run commands as root.</p>
<h3>The adm group</h3><p>Members of adm can read most log files in /var/log.</p>
<h2>Hardware groups</h2><p>The dialout group gives access to serial ports.</p>
<dl><dt>plugdev</dt><dd><p>Members can mount removable devices.</p><p>Through pmount.</p></dd>
<dt>audio</dt><dt>sound</dt><dd>Members can use sound cards directly.</dd><dt>orphan</dt></dl>
<h4>Staff</h4><p>The staff group lets members modify /usr/local.</p></main>"""


@pytest.mark.parametrize("wrapper", ["{}", "<div><span>Menu</span></div>{}"])
def test_a_definition_keeps_its_term(wrapper):
    text = extract_html(page(wrapper.format(GROUPS))).text
    blocks = text.split("\n\n")
    assert "plugdev: Members can mount removable devices." in blocks
    assert "Through pmount." in blocks  # the definition's second paragraph, after the first
    assert "audio, sound: Members can use sound cards directly." in blocks
    assert "orphan" in blocks  # a term with no definition is still read
    assert not any(block.startswith("- ") for block in blocks)  # terms are not list items


def test_each_passage_is_under_its_nearest_heading(tmp_path, count_tokens):
    from bot.core.documents.chunking import chunk_document
    from bot.core.documents.sources import load_document
    from bot.core.settings import ChunkerSettings

    path = tmp_path / "groups.html"
    path.write_bytes(page(GROUPS))
    document = load_document(path)
    chunks = chunk_document(document, count_tokens, ChunkerSettings(max_tokens=16))
    heading_of = {c.sentence_text(k): c.heading for c in chunks for k in range(len(c.sentences))}
    assert heading_of["Members of adm can read most log files in /var/log."].endswith(
        "Administrative groups › The adm group"
    )
    assert heading_of["The dialout group gives access to serial ports."].endswith(
        "› Hardware groups"
    )
    assert heading_of["The staff group lets members modify /usr/local."].endswith(
        "Hardware groups › Staff"
    )


def test_tags_written_as_text_are_words_not_layout():
    text = extract_html(
        page(
            "<h2>The &lt;server&gt; element</h2><p>&lt;server&gt;</p>"
            "<p>Use &lt;port&gt; to set the port.</p>"
        )
    ).text
    paragraphs = parse_paragraphs(text, "html")
    kinds = {text[p.start : p.end]: p.kind for p in paragraphs}
    assert kinds["<server>"] is not Kind.MARKUP  # read (a short line may head what follows)
    assert kinds["Use <port> to set the port."] is Kind.CONTENT
