"""The data that flows between the core's parts and out to the front ends.

Front ends may import this module, `bot.core.errors` and `bot.service`, nothing else of the
core (an import contract checks it). Everything here is a plain frozen dataclass, cheap to
import: no numpy, no torch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from bot import __version__
from bot.core.errors import IndexStoreError

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


# --- the index -----------------------------------------------------------------------------

# 2: the manifest carries its own checksum and every passage one (chunks.sums.npy).
# 3: each file source's size and times as it was read (SourceInfo.file_size, mtime_ns,
# ctime_ns), and each BM25 term's document frequency (bm25.df.npy).
# 4: the build record, documents, passages and embedding keys in index.db (an index of
# schema 3 is imported into it as schema 4: bot.core.index.legacy).
# An index of an older schema is read only to be rebuilt: it counts as out of date.
SCHEMA_VERSION = 4
OLDEST_SCHEMA = 1
Notify = Callable[[str], None]
# The sources of a build, decided from the index as it is once the build holds the lock
# (`index add` and `remove` change the list the last build left).
Plan = Callable[["Manifest | None"], "Sequence[str | Path]"]


class Progress(Protocol):
    """What a build reports its progress to (a terminal bar, a log, nothing)."""

    def start(self, total: int, description: str) -> None: ...
    def advance(self, n: int) -> None: ...


@dataclass(frozen=True)
class SourceInfo:
    path: str  # an absolute file path, or a URL
    doc_id: str
    sha256: str
    bytes: int
    chunks: int
    name: str = ""
    format: str = "text"
    paragraphs: int = 0
    pages: int = 0
    added_at: str = ""  # when this document (these bytes) entered the index
    # What stat said of a file before it was read (bot.core.index.freshness): while it says
    # the same, the file is not read again to tell whether it changed. 0: not known (a URL,
    # or a file changed too recently for its times to be trusted), so it is always hashed.
    file_size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0


@dataclass(frozen=True)
class Manifest:
    schema: int
    build_id: str
    data_dir: str
    model: str
    dimension: int
    chunker: dict[str, int]
    sources: list[SourceInfo]
    chunk_count: int
    sentence_count: int
    index_type: str
    built_at: str
    build_seconds: float
    qabot_version: str = __version__
    # Sources that could not be read ({path: reason}): reported and left out until the next
    # rebuild, so a bad file does not make every question rebuild the index.
    skipped: dict[str, str] = field(default_factory=dict)
    # Every data file's size and sha256 (bot.core.index.integrity); empty for older indexes.
    files: dict[str, dict[str, int | str]] = field(default_factory=dict)
    # The torch-free encoder questions go through ({"runtime", "file", "sha256"}), made from
    # `model` during the build; None when sentence-transformers encodes questions too.
    query_encoder: dict[str, str] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if data.get("schema") != SCHEMA_VERSION:
            raise IndexStoreError(
                f"index schema {data.get('schema')!r} is not the one this qabot reads "
                f"({SCHEMA_VERSION})"
            )
        data["sources"] = [SourceInfo(**s) for s in data["sources"]]
        return cls(**data)


# --- answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    kind: str | None  # "age", "weekday", "duration", "date", "number", or None: anything goes
    # the words naming what a "which X" / "what is the X of" question is about ("world
    # leader"); a passage that names none of them does not answer it
    focus: tuple[str, ...] = ()


NO_EXPECTATION = Expectation(None)


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    doc_id: str
    paragraphs: tuple[int, ...]
    start: int
    end: int
    score: float
    text: str  # exactly the document's text between start and end
    document: str = ""  # the document's name ("handbook.pdf")
    locator: str = ""  # where in it ("p. 12", "Install › Linux", "¶24")

    @property
    def label(self) -> str:
        return citation_label(self.document or self.doc_id, self.locator, self.paragraphs)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            "paragraphs": list(self.paragraphs),
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "text": self.text,
            "document": self.document or self.doc_id,
            "locator": self.locator or paragraph_locator(self.paragraphs),
        }


@dataclass(frozen=True)
class Retrieved:
    """A passage the search returned, whether or not the answer cites it."""

    chunk_id: str
    paragraphs: tuple[int, ...]
    label: str  # as its citation would name it ("handbook.pdf p. 7"), so --explain agrees
    fused: float
    dense: float
    lexical: float
    best_sentence: str
    best_sentence_score: float


@dataclass(frozen=True)
class Span:
    """The answer inside the quoted sentence: offsets in the document's text (what a citation
    quotes) and in the answer's own text (to mark it there), and the words."""

    start: int
    end: int
    text: str
    marked: tuple[int, int]  # the same words' offsets in Answer.text

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    timings_ms: dict[str, float]
    query: str  # what was searched: the question, with context from the previous turn
    expected: Expectation  # what kind of answer the question asks for, and about what
    score: float  # the best sentence's score, compared with the threshold to abstain
    threshold: float
    reason: str = ""  # why it answered or abstained, in words
    retrieved: tuple[Retrieved, ...] = field(default=(), repr=False)
    span: Span | None = None  # where the reader found the answer in the first sentence
    probability: float | None = None  # the reader's, that the answer answers (None: no reader)
    # When it abstains: the passage that came closest (numbered 0: offered, never cited).
    closest: tuple[Citation, ...] = ()

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "span": self.span.to_dict() if self.span else None,
            "citations": [c.to_dict() for c in self.citations],
            **({"closest": [c.to_dict() for c in self.closest]} if self.closest else {}),
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class Turn:
    question: str
    answer: Answer


@dataclass(frozen=True)
class SentenceCandidate:
    """A sentence that competes for the answer (what the answer selector is trained on)."""

    question: str
    chunk_id: str
    sentence: str
    passage: str  # the text of its passage, as a citation quotes it
    score: float  # the similarity score that ranked it
    heading: str = ""  # its passage's heading path
    before: str = ""  # the sentence before it in its passage, "" for the first
