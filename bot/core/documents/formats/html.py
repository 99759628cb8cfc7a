"""Reading an HTML page: its main content as Markdown-style text, boilerplate dropped.

trafilatura finds the main content (heuristics tuned on many real pages drop menus, cookie
banners, sidebars, footers and scripts) and hands it back as a small XML tree (head, p,
list/item, code, table/row/cell) rendered here into the text `parse_paragraphs` reads. It can
lose most of a short or unusual page, or just its headings, so the page's own structure (the
usual boilerplate containers pruned) is read as well and used when it clearly says more.
"""

from __future__ import annotations

import codecs
import re

from bot.core.documents.formats.extracted import Extracted
from bot.core.errors import SourceError

_DECLARED = re.compile(
    rb"(?:<meta[^>]*?charset|<\?xml[^>]*?encoding)\s*=\s*[\"']?\s*([\w.:-]+)", re.I
)
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.?)")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\xad]")  # and soft hyphens: they split words
_FENCE_LIKE = re.compile(r"[`~]{3,}")
_HEADINGS = {f"h{level}" for level in range(1, 7)} | {"head"}  # "head": trafilatura's heading
_ITEMS, _ROWS, _CELLS = {"li", "item"}, {"tr", "row"}, {"td", "th", "cell"}
_CONTAINERS = """address article aside blockquote body caption center dd details dialog div dl dt
    fieldset figcaption figure footer form header hgroup hr legend list main menu nav ol p pre
    quote section summary table tbody td tfoot th thead tr ul cell row"""  # trafilatura's too
_BLOCKS = _HEADINGS | _ITEMS | set(_CONTAINERS.split())
_LAYOUT = ("table", "list", "ul", "ol", *_HEADINGS)  # in a table: page layout, not data
_EXSLT = {"re": "http://exslt.org/regular-expressions"}
# Pruned before the page's own structure is read: what trafilatura would drop too.
_PRUNED = "nav footer aside script style noscript template svg iframe button select textarea head"
_BOILERPLATE = " | ".join(f".//{tag}" for tag in _PRUNED.split()) + (
    " | .//header[not(ancestor::article|ancestor::main)]"
    " | .//*[@hidden or @aria-hidden='true' or @role='navigation' or @role='contentinfo']"
    " | .//*[re:test(@id, '{0}', 'i') or re:test(@class, '{0}', 'i')]"
).format("cookie|consent|gdpr|breadcrumb")


def extract_html(data: bytes, url: str | None = None) -> Extracted:
    """Read an HTML page's main content; raise SourceError if it has no readable text."""
    import trafilatura

    wide = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)
    if b"\x00" in data[:8192] and not data.startswith(wide):  # UTF-16/32 text is full of NULs
        raise SourceError("looks like a binary file, not an HTML page")
    tree = _parse(_strip_controls(_decode(data)))
    title = _strip_controls(" ".join((tree.findtext("head/title") or "").split()))
    _mark_code(tree)
    # favor_recall: an index would rather keep a borderline paragraph. Images on keeps <figure>s
    # whole, and code listings live in them (images have no text). Tables are in by default.
    try:  # (on its own copy of the tree)
        found = trafilatura.bare_extraction(
            tree, url=url, favor_recall=True, include_comments=False, include_images=True
        )
    except Exception:  # heuristics over any page; if they trip, its own structure still reads
        found = None
    main = _render(found.body if found is not None else None)
    body = tree.find("body") if tree.find("body") is not None else tree
    for element in body.xpath(_BOILERPLATE, namespaces=_EXSLT):
        element.drop_tree()  # its tail stays: that is the parent's text
    text = _tidy("\n\n".join(_choose(main, _render(body))))
    if not text:
        raise SourceError("no readable text in this HTML page")
    return Extracted(text=text, format="html", title=title)


def _decode(data: bytes) -> str:
    """Decode as a browser would: a BOM, else the <meta> charset, else UTF-8 or a guess."""
    from trafilatura.utils import decode_file

    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16's FF FE
        return data.decode("utf-32", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        return data.decode("utf-8-sig" if data[0] == 0xEF else "utf-16", "replace")
    declared = _DECLARED.search(data[:4096])
    label = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    try:  # ASCII markup cannot be UTF-16: browsers read UTF-8 then
        return data.decode("utf-8" if label.startswith(("utf-16", "utf-32")) else label)
    except (LookupError, UnicodeDecodeError):
        return decode_file(data)  # a wrong or unknown label: UTF-8 or charset_normalizer's guess


def _parse(text: str):
    import lxml.etree
    import lxml.html

    # Re-encoded to UTF-8 and said so: a <meta charset> inside is no longer true.
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        return lxml.html.document_fromstring(text.encode("utf-8", "replace"), parser=parser)
    except (ValueError, lxml.etree.LxmlError) as exc:
        raise SourceError("no readable text in this HTML page") from exc


def _mark_code(tree) -> None:
    """Put a bare <pre>'s content in a <code>: trafilatura reads it as a quotation otherwise."""
    import lxml.html

    for pre in tree.iter("pre"):
        if next(pre.iter("code"), None) is None:
            code = lxml.html.Element("code")
            code.text, pre.text = pre.text, None
            code.extend(list(pre))
            pre.append(code)


def _choose(main: list[str], plain: list[str]) -> list[str]:
    """trafilatura's reading, unless the page's own structure says clearly more."""
    found, visible = (
        sum(char.isalnum() for block in blocks for char in block) for blocks in (main, plain)
    )
    if found < 0.2 * visible:  # it missed most of the page
        return plain
    # Its rescue of a short page is flat text: the same words, every heading and code block lost.
    same_words = min(found, visible) >= 0.8 * max(found, visible)
    shape = [sum(block.startswith(("#", "```")) for block in blocks) for blocks in (main, plain)]
    return plain if same_words and shape[0] == 0 < shape[1] else main


def _render(root, out: list[str] | None = None, marker: str = "") -> list[str]:
    """Blocks of text in reading order: headings, paragraphs, list items, code, tables.

    Text between block elements (a <div> holding text, then a <p>) is a paragraph too;
    `marker` ("- ", "2. ") goes before the first block of a list item.
    """
    out = [] if out is None else out
    if root is None:
        return out
    ordered, number = root.tag == "ol" or root.get("rend") == "ol", 0
    run, terms = [_squash(root.text)], []
    for child in root:
        tag = child.tag if isinstance(child.tag, str) else ""
        # trafilatura's code block: <code><code>..</code></code>, or a <code> of several lines
        lines = "".join(child.itertext()).strip() if tag == "code" else ""
        code = tag == "pre" or "\n" in lines or (tag == "code" and child.find("code") is not None)
        if not (tag in _BLOCKS or code or next(child.iterdescendants(*_BLOCKS), None) is not None):
            run += [_inline(child), _squash(child.tail)]
            continue
        marker, before = _flush(run, out, marker), len(out)
        role = _definition_role(child, tag)
        if role == "term":  # held for its definition, which it names
            terms.append(" ".join(_inline(child).split()))
        elif role == "definition":
            _render(child, out)
            _name_definition(out, before, terms)
        elif leaf := _leaf(child, tag, code):
            out.append(leaf)
        elif tag in _ITEMS:
            number += 1
            _render(child, out, f"{number}. " if ordered else "- ")
        else:
            _render(child, out, marker)
        marker = "" if len(out) > before else marker
        run = [_squash(child.tail)]
    _flush(run, out, marker)
    _name_definition(out, len(out), terms)  # a term left without a definition
    return out


def _definition_role(element, tag: str) -> str:
    """ "term" for a definition list's <dt>, "definition" for its <dd> (trafilatura keeps
    them as items marked rend="dt-1", "dd-1"); "" for anything else."""
    rend = (element.get("rend") or "") if tag == "item" else ""
    if tag == "dt" or rend.startswith("dt"):
        return "term"
    return "definition" if tag == "dd" or rend.startswith("dd") else ""


def _name_definition(out: list[str], first: int, terms: list[str]) -> None:
    """Put the terms waiting before the definition's first block (`sudo: Members of…`): a
    definition read without its term does not say what it defines. Emptied once used."""
    term = ", ".join(filter(None, terms))
    terms.clear()
    if not term:
        return
    if first >= len(out):
        out.append(term)
    elif out[first].startswith(("```", "#")):  # a code block or heading stays one
        out.insert(first, term + ":")
    else:
        out[first] = f"{term}: {out[first]}"


def _leaf(element, tag: str, code: bool) -> str:
    """A code block, data table or heading as one block of text; "" for anything else."""
    if code:
        lines = [line.rstrip() for line in "".join(element.itertext()).strip("\n").split("\n")]
        return "\n".join(["```", *lines, "```"]) if any(lines) else ""
    if tag == "table" and next(element.iterdescendants(*_LAYOUT), None) is None:
        rows = [
            [_inline(cell) for cell in row if cell.tag in _CELLS] for row in element.iter(*_ROWS)
        ]
        cells = [[" ".join(cell.split()) for cell in row] for row in rows]
        return "\n".join(" | ".join(filter(None, row)) for row in cells if any(row))
    # (¶: the permalink a Sphinx page puts after every heading)
    if tag not in _HEADINGS or not (text := " ".join(_inline(element).replace("¶", "").split())):
        return ""
    level = (element.get("rend") or "h2")[1:] if tag == "head" else tag[1:]
    return "#" * (int(level) if level in ("1", "2", "3", "4", "5", "6") else 2) + " " + text


def _flush(run: list[str], out: list[str], marker: str) -> str:
    """Add the loose text as a paragraph; return the list marker still waiting for text."""
    lines = [" ".join(line.split()) for line in "".join(run).split("\n")]
    # a ~~~~ underline in prose would open a code block for the paragraph reader
    text = "\n".join(line for line in lines if not _FENCE_LIKE.fullmatch(line)).strip()
    run.clear()
    if text:
        out.append(marker + text)
    return "" if text else marker


def _inline(element) -> str:
    """An element's text as a browser shows it: white space squashed, <br> a line break."""
    if not isinstance(element.tag, str):
        return ""
    if element.tag in ("br", "lb"):
        return "\n"
    inner = _squash(element.text) + "".join(_inline(c) + _squash(c.tail) for c in element)
    return f" {inner} " if element.tag in _BLOCKS else inner  # <td><p>a</p><p>b</p>: "a b"


def _squash(text: str | None) -> str:
    return re.sub(r"\s+", " ", text) if text else ""


def _strip_controls(text: str) -> str:
    text = _ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROLS.sub("", text.replace("\u2028", "\n").replace("\u2029", "\n"))


def _tidy(text: str) -> str:
    """The text contract: no controls, no trailing spaces, at most one blank line in a row."""
    lines = [line.rstrip() for line in _strip_controls(text).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
