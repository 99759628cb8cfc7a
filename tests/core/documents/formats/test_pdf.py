"""PDF extraction on real PDFs built here with fpdf2 and read back by PDFium: page offsets,
paragraphs, words whole, the title, and a one-line SourceError for what cannot be read."""

from __future__ import annotations

import io
import re
import string
from contextlib import suppress

import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.documents.formats.pdf import _clean, extract_pdf
from bot.core.documents.paragraphs import parse_paragraphs
from bot.core.errors import SourceError
from tests.conftest import REPO

TWO_PAGES = REPO / "tests" / "data" / "formats" / "two-pages.pdf"

PAGE_ONE = [
    "Photosynthesis is the process by which green plants turn light into chemical energy. "
    "It takes place in the chloroplasts, small bodies inside the cells of the leaves.",
    "Chlorophyll absorbs mostly red and blue light and reflects green light, which is why "
    "leaves look green to us. Other pigments help to catch the rest of the spectrum.",
    "The light reactions split water and release oxygen into the air around the plant.",
]
PAGE_TWO = [
    "The Calvin cycle then fixes carbon dioxide from the air into sugars, using the energy "
    "stored by the light reactions. It needs no light.",
    "Respiration later burns those sugars again to power the growth of the plant, mostly "
    "at night when there is no light to use.",
    "Together the two processes keep the carbon of the biosphere in motion.",
]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


def build_pdf(pages: list[list[str]], title: str = "", gap: float = 3) -> bytes:
    """One multi_cell per paragraph (fpdf2 wraps it into justified lines), `gap` mm after
    each (with none, only a paragraph's short last line tells where it ends)."""
    pdf = FPDF()
    pdf.set_margins(30, 20)  # lines of at most about 95 characters
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=10)
    for paragraphs in pages:
        pdf.add_page()
        for paragraph in paragraphs:
            pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(gap)
    return bytes(pdf.output())


def build_two_pages() -> bytes:
    """The committed tests/data/formats/two-pages.pdf was written by this."""
    return build_pdf([PAGE_ONE, PAGE_TWO], title="Photosynthesis in two pages")


def words(text: str) -> str:
    return " ".join(text.split())


def assert_clean(text: str) -> None:
    assert text == text.strip() and "\r" not in text and "\n\n\n" not in text
    assert not CONTROL.search(text)
    assert all(line == line.rstrip() for line in text.split("\n"))


@pytest.mark.parametrize("gap", [0, 4])
def test_two_pages_come_back_as_pages_of_paragraphs(gap):
    extracted = extract_pdf(build_pdf([PAGE_ONE, PAGE_TWO], title="Two pages", gap=gap))
    text, pages = extracted.text, extracted.pages
    assert (extracted.format, extracted.title) == ("pdf", "Two pages")
    assert len(pages) == 2 and pages[0] == 0
    assert text[pages[1] :].startswith("The Calvin cycle then fixes")
    assert text[: pages[1]].endswith("plant.\n\n")  # a page starts a paragraph
    # A paragraph's lines joined into one (PDF lines are often longer than the 100
    # characters after which the paragraph reader ends one); one blank line between them.
    assert "\n" not in text.split("\n\n")[0]
    assert [words(p) for p in text.split("\n\n")] == PAGE_ONE + PAGE_TWO
    assert_clean(text)
    for word in ("chloroplasts", "Chlorophyll", "oxygen"):
        assert extracted.page_of(text.index(word)) == 1
    for word in ("Calvin", "Respiration", "biosphere"):
        assert extracted.page_of(text.index(word)) == 2
    # qabot's paragraph reader sees the same paragraphs.
    read = [words(text[p.start : p.end]) for p in parse_paragraphs(text)]
    assert read == PAGE_ONE + PAGE_TWO


def test_the_committed_two_page_pdf():
    assert TWO_PAGES.stat().st_size < 10_000
    extracted = extract_pdf(TWO_PAGES.read_bytes())
    assert extracted.title == "Photosynthesis in two pages"
    assert [words(p) for p in extracted.text.split("\n\n")] == PAGE_ONE + PAGE_TWO
    assert extracted.text.index("The Calvin cycle") == extracted.pages[1]


def test_a_page_without_text_starts_where_the_next_one_does():
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    pdf.cell(text="First page words.")
    pdf.add_page()
    pdf.rect(20, 20, 60, 40)
    pdf.add_page()
    pdf.cell(text="Third page words.")
    pdf.add_page()
    extracted = extract_pdf(bytes(pdf.output()))
    assert extracted.text == "First page words.\n\nThird page words."
    assert extracted.pages == (0, 19, 19, len(extracted.text))
    assert extracted.page_of(extracted.text.index("Third")) == 3
    assert extracted.page_of(extracted.text.index("First")) == 1


def test_a_word_hyphenated_at_a_line_end_is_whole_again():
    text = "The leaves hold chloro-\nphyll in small bodies. Jean-\nLuc saw COVID-\n19 data."
    extracted = extract_pdf(build_pdf([[text]]))
    assert "chlorophyll\nin small bodies." in extracted.text
    assert "Jean-Luc" in extracted.text and "COVID-19" in extracted.text
    assert_clean(extracted.text)


def test_a_mid_line_hyphen_stays():
    extracted = extract_pdf(build_pdf([["A well-known and long-lived plant."]]))
    assert extracted.text == "A well-known and long-lived plant."
    assert extracted.title == ""


def test_an_encrypted_pdf_needs_its_password():
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Secret words.")
    pdf.set_encryption(owner_password="owner", user_password="user")
    with pytest.raises(SourceError, match=r"^an encrypted PDF; qabot cannot read it without"):
        extract_pdf(bytes(pdf.output()))


def test_a_pdf_with_only_an_owner_password_reads():
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(text="Open words.")
    pdf.set_encryption(owner_password="owner")
    assert extract_pdf(bytes(pdf.output())).text == "Open words."


def test_pages_without_a_text_layer_are_refused(tmp_path):
    from PIL import Image

    scan = tmp_path / "scan.png"
    Image.new("RGB", (60, 40), "gray").save(scan)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(scan), x=10, y=10, w=100)
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)
    with pytest.raises(SourceError, match=r"^a PDF without a text layer \(scanned pages\?\);"):
        extract_pdf(bytes(pdf.output()))


def test_a_pdf_without_pages_says_so_even_after_an_encrypted_one():
    import pypdfium2 as pdfium

    empty = io.BytesIO()
    pdfium.PdfDocument.new().save(empty)
    encrypted = FPDF()
    encrypted.add_page()
    encrypted.set_encryption(owner_password="owner", user_password="user")
    with pytest.raises(SourceError, match="encrypted"):
        extract_pdf(bytes(encrypted.output()))
    # PDFium's last error is still "password": the no-pages check must not trust it.
    with pytest.raises(SourceError, match=r"^a PDF without pages$"):
        extract_pdf(empty.getvalue())


@pytest.mark.parametrize("cut", [0, 9, 200, 0.5, 0.9, -40])
def test_truncated_or_broken_bytes_are_a_source_error(cut):
    data = build_two_pages()
    end = int(len(data) * cut) if isinstance(cut, float) else cut
    with pytest.raises(SourceError, match=r"^not a readable PDF \("):
        extract_pdf(data[:end])


def test_random_bytes_are_not_a_pdf():
    with pytest.raises(SourceError, match=r"^not a readable PDF \(damaged, or not a PDF at all\)$"):
        extract_pdf(bytes(range(256)) * 8)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000), st.booleans())
def test_arbitrary_bytes_raise_nothing_but_source_error(data, with_header):
    try:
        extract_pdf(b"%PDF-1.7\n" + data if with_header else data)
    except SourceError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0), st.binary(min_size=1, max_size=8))
def test_damaged_pdfs_raise_nothing_but_source_error(at, junk):
    data = bytearray(build_two_pages())
    at %= len(data)
    data[at : at + len(junk)] = junk
    with suppress(SourceError):  # or read, partly: PDFium repairs what it can
        assert_clean(extract_pdf(bytes(data)).text)


# Words a core font writes (Latin-1), without "-": at a line end that is a hyphen.
WORD = st.text(string.ascii_letters + string.digits + ".,;:!?'\"()&%$@*+=/<>[]_{}|~^`", max_size=12)
# PDFium's own line finding glues a lone one-character line onto a short line above it.
SENTENCE = st.lists(WORD.filter(bool), min_size=1, max_size=30).map(" ".join)
SENTENCE = SENTENCE.filter(lambda sentence: len(sentence) > 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SENTENCE, min_size=1, max_size=12), st.sampled_from([0, 3]))
def test_every_word_comes_back_in_order(sentences, gap):
    extracted = extract_pdf(build_pdf([sentences], gap=gap))
    assert extracted.text.split() == " ".join(sentences).split()
    assert_clean(extracted.text)


@given(st.text())
def test_cleaning_leaves_readable_text(text):
    cleaned = _clean(text)
    assert_clean(cleaned)
    assert "\x1b" not in cleaned


def test_cleaning_drops_controls_and_pdfium_markers():
    raw = "exam\ufffeple text\r\nJean\x02Luc\x00 \x1b[31mred\x1b[0m soft\xadly\x0c\r\n\r\n\r\nend  "
    assert _clean(raw) == "example\ntext\nJean-Luc red softly\n\nend"
    assert _clean("green chloro-\nphyll and more\nno-\nSQL e-\nmail") == (
        "green chlorophyll\nand more\nno-\nSQL email"
    )
