"""Documents and their passages as the core hands them around: a `Document` read from a
source, its `Paragraph`s of a `Kind`, the `Chunk`s it is cut into, and how a citation names
a passage ("handbook.pdf p. 12", "guide.md › Install", "article.txt ¶11").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum

# --- documents -----------------------------------------------------------------------------


class Kind(StrEnum):
    CONTENT = "content"
    HEADING = "heading"
    BYLINE = "byline"
    CAPTION = "caption"
    CODE = "code"
    MARKUP = "markup"  # layout, not prose: an HTML tag, an image, a rule, a table of contents


@dataclass(frozen=True)
class Paragraph:
    number: int  # 1-based, counting every paragraph of the file, content or not
    start: int
    end: int
    kind: Kind
    sentences: tuple[tuple[int, int], ...] = ()  # absolute spans; only content has them


@dataclass(frozen=True)
class Document:
    source: str  # where it came from: an absolute file path, or a URL
    doc_id: str
    text: str  # as qabot reads it: the file's text, or what was extracted from HTML/PDF/DOCX
    sha256: str  # of the bytes read (the file, or the fetched body)
    paragraphs: tuple[Paragraph, ...]
    name: str = ""  # what citations call it: the file name ("handbook.pdf")
    format: str = "text"  # "text", "markdown", "html", "pdf" or "docx"
    pages: tuple[int, ...] = ()  # offset in `text` where each page starts (PDF)
    title: str = ""

    def page_of(self, offset: int) -> int | None:
        """1-based number of the page holding `offset`; None for unpaged formats."""
        if not self.pages:
            return None
        import bisect

        return max(1, bisect.bisect_right(self.pages, offset))


_BOX_SEAM = re.compile(r"[ \t]+\*[ \t]*\r?\n[ \t]*\*[ \t]+")


def normalize_space(text: str) -> str:
    """The passage as a reader sees it: hard-wrapped lines joined, box borders dropped."""
    return " ".join(_BOX_SEAM.sub(" ", text).split())


# --- passages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    id: str  # stable across rebuilds of the same text: "<doc>#p<first>[-<last>][.<part>]"
    doc_id: str
    paragraphs: tuple[int, ...]
    start: int
    end: int
    text: str  # exactly the source text between start and end
    heading: str  # the nearest heading above, for retrieval context; "" if none
    sentences: tuple[tuple[int, int], ...]  # absolute spans of the chunk's sentences
    document: str = ""  # the document's name, as citations show it ("handbook.pdf")
    locator: str = ""  # where in it: "p. 12", "Install › Linux", "¶24"

    @property
    def label(self) -> str:
        """How a citation names the passage: "handbook.pdf p. 12", "guide.md › Install"."""
        return citation_label(self.document or self.doc_id, self.locator, self.paragraphs)

    @property
    def embed_text(self) -> str:
        body = normalize_space(self.text)
        return f"{self.heading}: {body}" if self.heading else body

    @property
    def embed_parts(self) -> list[str]:
        """The texts whose token vectors make up the passage's vector: its heading, if any,
        then its sentences."""
        sentences = [self.sentence_text(k) for k in range(len(self.sentences))]
        return [self.heading, *sentences] if self.heading else sentences

    def sentence_text(self, k: int) -> str:
        """Sentence number `k`, as a reader sees it."""
        s, e = self.sentences[k]
        return normalize_space(self.text[s - self.start : e - self.start])

    def to_dict(self) -> dict:
        data = asdict(self)
        data["paragraphs"] = list(self.paragraphs)
        data["sentences"] = [list(span) for span in self.sentences]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Chunk:
        return cls(
            id=data["id"],
            doc_id=data["doc_id"],
            paragraphs=tuple(data["paragraphs"]),
            start=data["start"],
            end=data["end"],
            text=data["text"],
            heading=data["heading"],
            sentences=tuple(tuple(span) for span in data["sentences"]),
            document=data.get("document", ""),
            locator=data.get("locator", ""),
        )


def paragraph_locator(paragraphs: tuple[int, ...]) -> str:
    first, last = paragraphs[0], paragraphs[-1]
    return f"¶{first}" if first == last else f"¶{first}-{last}"


def citation_label(document: str, locator: str, paragraphs: tuple[int, ...]) -> str:
    locator = locator or paragraph_locator(paragraphs)
    joiner = " " if locator.startswith(("¶", "p. ", "pp. ")) else " › "
    return f"{document}{joiner}{locator}"
