"""Reading Word .docx files: real documents written with python-docx, read back."""

from __future__ import annotations

import contextlib
import io
import zipfile

import docx
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.documents.formats.docx import extract_docx
from bot.core.documents.paragraphs import ATX_HEADING, SETEXT_UNDERLINE, parse_paragraphs
from bot.core.errors import SourceError
from bot.core.types import Kind
from tests.conftest import REPO

GUIDE = REPO / "tests" / "data" / "formats" / "guide.docx"
PROSE = [
    "qabot reads Word documents without a network connection.",
    "Each answer quotes the passage it came from, with a number.",
]


def saved(document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def structured_document():
    document = docx.Document()
    document.add_paragraph("User manual", style="Title")
    document.add_heading("Getting started", 1)
    document.add_paragraph(PROSE[0])
    document.add_heading("Installation", 2)
    document.add_paragraph("Install it with pip.", style="List Bullet")
    document.add_paragraph("Or build it from source.", style="List Bullet")
    document.add_heading("Requirements", 3)
    document.add_paragraph("Download the wheel.", style="List Number")
    document.add_paragraph("Run the installer.", style="List Number")
    table = document.add_table(rows=2, cols=3)
    for row, values in zip(table.rows, ["abc", "def"], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph(PROSE[1])
    return document


def test_headings_lists_and_tables_come_out_in_order():
    extracted = extract_docx(saved(structured_document()))
    assert extracted.format == "docx"
    assert extracted.text == "\n\n".join(
        [
            "# User manual",
            "# Getting started",
            PROSE[0],
            "## Installation",
            "- Install it with pip.",
            "- Or build it from source.",
            "### Requirements",
            "- Download the wheel.",
            "- Run the installer.",
            "a | b | c\nd | e | f",
            PROSE[1],
        ]
    )
    assert extracted.title == "User manual"  # no core title: the first Title paragraph


def test_the_paragraph_reader_sees_headings_and_prose():
    text = extract_docx(saved(structured_document())).text
    paragraphs = parse_paragraphs(text)
    headings = [text[p.start : p.end] for p in paragraphs if p.kind is Kind.HEADING]
    assert headings == ["# User manual", "# Getting started", "## Installation", "### Requirements"]
    content = [text[p.start : p.end] for p in paragraphs if p.kind is Kind.CONTENT]
    assert PROSE[0] in content and PROSE[1] in content


def test_the_core_title_wins_over_the_first_heading():
    document = structured_document()
    document.core_properties.title = "The manual\x85of qabot"
    assert extract_docx(saved(document)).title == "The manual of qabot"


def test_breaks_tabs_and_controls_become_clean_text():
    document = docx.Document()
    document.add_paragraph("first line\nsecond\tcolumn\u2028third\x9b")
    document.add_paragraph("# not a heading, just a hash.")
    document.add_paragraph("```")
    text = extract_docx(saved(document)).text
    assert text == "first line second column third\n\n\\# not a heading, just a hash.\n\n\\```"
    assert all(p.kind is not Kind.HEADING for p in parse_paragraphs(text))


def test_merged_and_nested_cells_are_read_once():
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Linux"
    table.cell(0, 2).text = "apt"
    table.cell(1, 0).text = "macOS"
    table.cell(1, 2).add_table(rows=1, cols=2).rows[0].cells[1].text = "brew"
    assert extract_docx(saved(document)).text == "Linux | apt\nmacOS | brew"


def test_numbering_and_outline_levels_without_the_builtin_styles():
    document = docx.Document()
    item = document.add_paragraph("Numbered by hand.", style="List Paragraph")
    item._p.get_or_add_pPr().get_or_add_numPr().get_or_add_numId().val = 1
    outlined = document.add_paragraph("Outlined")
    outlined._p.get_or_add_pPr().append(OxmlElement("w:outlineLvl", {qn("w:val"): "1"}))
    assert extract_docx(saved(document)).text == "- Numbered by hand.\n\n## Outlined"


def test_the_committed_guide():
    extracted = extract_docx(GUIDE.read_bytes())
    assert extracted.title == "The qabot guide"
    lines = extracted.text.split("\n\n")
    assert lines[0] == "# The qabot guide"
    assert lines.index("# Install") < lines.index("## Linux")
    after_linux = lines[lines.index("## Linux") + 1]
    assert after_linux.startswith("On Linux, create a virtual environment")
    assert lines[-1] == "- Debian and Ubuntu users need the python3-venv package first."


def test_a_document_without_text():
    document = docx.Document()
    for _ in range(3):
        document.add_paragraph("  \t ")
    document.add_table(rows=2, cols=2)
    with pytest.raises(SourceError, match=r"^no text in this Word document$"):
        extract_docx(saved(document))


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def damaged(data: bytes, member: str) -> bytes:
    """`data` with a byte in the middle of `member`'s compressed bytes changed."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    header = 30 + len(info.filename) + len(info.extra)  # the local file header's size
    offset = info.header_offset + header + info.compress_size // 2
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


def test_what_is_not_a_docx():
    sample = saved(docx.Document())
    cases = {
        b"plain text, not a zip": r"\(not a zip archive\)$",
        sample[:500]: r"\(not a zip archive\)$",  # truncated: no central directory
        zipped({"notes.txt": b"hello"}): r"\(a zip archive, but not an Office document\)$",
        damaged(sample, "word/document.xml"): r"\(a damaged zip archive\)$",
    }
    for data, reason in cases.items():
        with pytest.raises(SourceError, match="^not a readable Word .docx file " + reason):
            extract_docx(data)


def test_another_office_format_and_broken_xml():
    with zipfile.ZipFile(io.BytesIO(saved(structured_document()))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    sheet = dict(files)
    sheet["[Content_Types].xml"] = files["[Content_Types].xml"].replace(
        b"wordprocessingml.document.main", b"spreadsheetml.sheet.main"
    )
    with pytest.raises(SourceError, match=r"\(another kind of Office file"):
        extract_docx(zipped(sheet))
    broken = dict(files)
    broken["word/document.xml"] = files["word/document.xml"][:-40]
    with pytest.raises(SourceError, match=r"^not a readable Word .docx file \(damaged content: "):
        extract_docx(zipped(broken))


def test_an_old_doc_or_encrypted_file():
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    with pytest.raises(SourceError) as caught:
        extract_docx(ole2)
    message = str(caught.value)
    assert ".doc file" in message and "password-protected" in message
    assert "save it as .docx" in message


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_source_error(data):
    with pytest.raises(SourceError):
        extract_docx(data)


SAMPLE = saved(structured_document())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), max_size=4))
def test_a_damaged_docx_is_read_or_refused_cleanly(changes):
    data = bytearray(SAMPLE)
    for offset, value in changes:
        data[offset] = value
    with contextlib.suppress(SourceError):
        extract_docx(bytes(data))


# What python-docx can store: no C0/C1 controls, surrogates or the XML non-characters; the
# line breaks and tabs it turns into <w:br/> and <w:tab/> are included.
TEXT = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs"),
        blacklist_characters="\ufffe\uffff",
        whitelist_characters="\t\n\r",
    ),
    max_size=40,
).filter(lambda text: text.strip())


FENCES = ("```", "~~~")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.none() | st.integers(1, 3), TEXT), min_size=1, max_size=8))
def test_arbitrary_paragraphs_come_back_in_order(blocks):
    document = docx.Document()
    for level, text in blocks:
        if level is None:
            document.add_paragraph(text)
        else:
            document.add_heading(text, level)
    extracted = extract_docx(saved(document))

    expected = []
    for level, text in blocks:
        flat = " ".join(text.split())
        if level is not None:
            expected.append("#" * level + " " + flat)
        elif ATX_HEADING.match(flat) or SETEXT_UNDERLINE.fullmatch(flat) or flat[:3] in FENCES:
            expected.append("\\" + flat)  # escaped, so the paragraph reader keeps it prose
        else:
            expected.append(flat)
    assert extracted.text.split("\n\n") == expected

    # Word marks its headings: only a heading-styled paragraph is one, however short a
    # body paragraph is, and a `<tag>` in its text is a word.
    paragraphs = parse_paragraphs(extracted.text, extracted.format)
    read_headings = [extracted.text[p.start : p.end] for p in paragraphs if p.kind is Kind.HEADING]
    headings = [line for line, (level, _) in zip(expected, blocks, strict=True) if level]
    assert read_headings == headings


def test_only_heading_styles_make_headings_and_tags_are_words():
    document = docx.Document()
    document.add_heading("The <server> element", 1)
    for text in ("Overview", "<config>", "Use <port> to set the port.", "Network settings"):
        document.add_paragraph(text)
    extracted = extract_docx(saved(document))
    paragraphs = parse_paragraphs(extracted.text, extracted.format)
    kinds = {extracted.text[p.start : p.end]: p.kind for p in paragraphs}
    assert kinds == {
        "# The <server> element": Kind.HEADING,
        "Overview": Kind.CONTENT,
        "<config>": Kind.CONTENT,
        "Use <port> to set the port.": Kind.CONTENT,
        "Network settings": Kind.CONTENT,
    }
    from bot.core.documents.chunking import heading_label

    assert heading_label("# The <server> element", "docx") == "The <server> element"
