"""The data that flows between the core's parts and out to the front ends.

Front ends may import this package, `bot.core.errors` and `bot.service`, nothing else of the
core (an import contract checks it). Everything here is a plain frozen dataclass, cheap to
import: no numpy, no torch. Documents and passages are defined in `types.documents`, the
index's record in `types.manifest`, and every name is imported from here, as before. The
answer's records are defined here: the Telegram state file pickles them under the name
`bot.core.types.<class>`, and a file written before would not load if they moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.types.documents import (
    Chunk,
    Document,
    Kind,
    Paragraph,
    citation_label,
    normalize_space,
    paragraph_locator,
)
from bot.core.types.manifest import (
    OLDEST_SCHEMA,
    SCHEMA_VERSION,
    Manifest,
    Notify,
    Plan,
    Progress,
    SourceInfo,
    quiet,
)

__all__ = [
    "NO_EXPECTATION",
    "OLDEST_SCHEMA",
    "SCHEMA_VERSION",
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "Expectation",
    "Kind",
    "Manifest",
    "Notify",
    "Paragraph",
    "Plan",
    "Progress",
    "Retrieved",
    "SentenceCandidate",
    "SourceInfo",
    "Span",
    "Turn",
    "citation_label",
    "normalize_space",
    "paragraph_locator",
    "quiet",
]

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
