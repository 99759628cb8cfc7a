"""The index's record of itself (`Manifest`, one `SourceInfo` per document) and what a
build is handed: where its sources come from (`Plan`) and what it reports to (`Progress`,
`Notify`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from bot import __version__
from bot.core.errors import IndexStoreError

# 2: the manifest carries its own checksum and every passage one (chunks.sums.npy).
# 3: each file source's size and times as it was read (SourceInfo.file_size, mtime_ns,
# ctime_ns), and each BM25 term's document frequency (bm25.df.npy).
# 4: the build record, documents, passages and embedding keys in index.db (an index of
# schema 3 is imported into it as schema 4: bot.core.index.legacy).
# An index of an older schema is read only to be rebuilt: it counts as out of date.
SCHEMA_VERSION = 4
OLDEST_SCHEMA = 1
Notify = Callable[[str], None]


def quiet(_message: str) -> None:
    """A Notify that says nothing."""


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
