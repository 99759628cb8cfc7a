"""A loaded index (`Index`, opened by bot.core.index.snapshot), and its passages, read from its
database by row when asked for.

An answer reads the few passages its search found, so start-up reads none: each is fetched
by (build, row), checked against the checksum its build recorded, parsed, and kept in a
bounded cache. One connection serves every thread, one query at a time.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from bot.core.index.integrity import passage_digest
from bot.core.types import Chunk, Manifest

if TYPE_CHECKING:
    import numpy as np

# Parsed passages kept: an answer touches a few dozen; a Telegram bot under load, a few
# hundred a second, mostly the same ones.
PARSED_KEPT = 4096
_BLOCK = 1024  # passages read per query when every one is read


def chunk_body(chunk: Chunk) -> str:
    """A passage as its row in the database holds it."""
    return json.dumps(chunk.to_dict(), ensure_ascii=False)


class Passages(Sequence[Chunk]):
    """The passages of one build by row, each checked and parsed when first read.
    `damaged(what)` is the error to raise when one is missing or does not match."""

    def __init__(
        self,
        db: sqlite3.Connection,
        build: str,
        count: int,
        damaged: Callable[[str], Exception],
    ):
        self.db = db
        self._lock = threading.Lock()
        self.build = build
        self.count = count
        self._damaged = damaged
        self._row = functools.lru_cache(maxsize=PARSED_KEPT)(self._fetch)

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, row: int) -> Chunk: ...
    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...
    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        if isinstance(row, slice):
            return [self._row(i)[2] for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"passage {row} of {len(self)}")
        return self._row(row)[2]

    def __iter__(self) -> Iterator[Chunk]:
        # A block at a time, not through the cache: a full scan would push the hot ones out.
        for start in range(0, self.count, _BLOCK):
            rows = self._query(
                "SELECT row, first_sentence, sentences, body, digest FROM passages "
                "WHERE build = ? AND row >= ? AND row < ? ORDER BY row",
                (self.build, start, start + _BLOCK),
            )
            if len(rows) != min(_BLOCK, self.count - start):
                raise self._damaged(f"passages {start} to {start + _BLOCK - 1} are not all there")
            for row in rows:
                yield self._checked(*row)[2]

    def sentence_rows(self, row: int) -> range:
        """The rows of passage `row`'s sentences in the sentence vectors."""
        first, count, _ = self._row(row)
        return range(first, first + count)

    def check_extent(self, sentences: int) -> None:
        """That the build's last passage is where its record says, and ends at its last
        sentence (an index seek, whatever the corpus's size)."""
        if not self.count:
            return
        last = self._query(
            "SELECT row, first_sentence + sentences FROM passages WHERE build = ? AND row >= ?",
            (self.build, self.count - 1),
        )
        if [row for row, _ in last] != [self.count - 1]:
            raise self._damaged(f"the database does not hold the {self.count} passages")
        if last[0][1] != sentences:
            raise self._damaged(f"its passages do not end at sentence {sentences}")

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        try:
            with self._lock:
                return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._damaged(f"the database: {str(exc)[:200]}") from None

    def _fetch(self, row: int) -> tuple[int, int, Chunk]:
        found = self._query(
            "SELECT row, first_sentence, sentences, body, digest FROM passages "
            "WHERE build = ? AND row = ?",
            (self.build, row),
        )
        if not found:
            raise self._damaged(f"passage {row} is missing")
        return self._checked(*found[0])

    def _checked(
        self, row: int, first: int, count: int, body: object, digest: object
    ) -> tuple[int, int, Chunk]:
        if type(body) is not str or passage_digest(row, first, count, body) != digest:
            raise self._damaged(f"passage {row} does not match its checksum")
        try:
            return first, count, Chunk.from_dict(json.loads(body))
        except (ValueError, KeyError, TypeError):
            raise self._damaged(f"passage {row} cannot be read") from None


@dataclass
class Index:
    """A loaded index: passages (read from the database by row when asked for), their
    vectors, and the vectors of their sentences, memory-mapped: opening reads none of them."""

    directory: Path
    manifest: Manifest
    chunks: Passages
    vectors: Any  # faiss.Index over chunk vectors, inner product of unit vectors
    sentence_vectors: np.ndarray
    # The same passage vectors as a matrix, a row each: one passage's vector without asking
    # the FAISS index to reconstruct it (an IVF index would need a map of every row first).
    passage_vectors: np.ndarray

    def sentence_text(self, chunk_row: int, k: int) -> str:
        return self.chunks[chunk_row].sentence_text(k)

    def rows_of(self, document: str) -> range:
        """The rows of one document's passages (a build stores them side by side), found by
        its name, its id, or its path or URL; QuestionError naming the documents if none."""
        from bot.core.errors import QuestionError

        sources = self.manifest.sources
        wanted = [i for i, s in enumerate(sources) if document in (s.name, s.doc_id, s.path)]
        if len(wanted) != 1 or not sources[wanted[0]].chunks:
            names = ", ".join(s.name or s.doc_id for s in sources)
            raise QuestionError(f"no document called {document!r} in the index; it holds {names}")
        # A build writes the documents' passages side by side, in the record's order.
        first = sum(s.chunks for s in sources[: wanted[0]])
        return range(first, first + sources[wanted[0]].chunks)

    def row_of(self, chunk_id: str) -> int | None:
        """The row of passage `chunk_id` ("<doc>#p<first>..."), or None: found by bisection,
        as a document's passages are stored in the order of their first paragraph, so a
        large index parses a few passages, not all of them."""
        import bisect

        from bot.core.errors import QuestionError

        doc, _, rest = chunk_id.partition("#p")
        digits = re.match(r"\d+", rest)
        if not digits:
            return None
        try:
            rows = self.rows_of(doc)
        except QuestionError:
            return None
        first = int(digits.group())
        i = bisect.bisect_left(rows, first, key=lambda row: self.chunks[row].paragraphs[0])
        while i < len(rows) and self.chunks[rows[i]].paragraphs[0] == first:
            if self.chunks[rows[i]].id == chunk_id:
                return rows[i]
            i += 1
        return None
