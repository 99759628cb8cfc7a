"""The passages of a loaded index, read from its database by row when asked for.

An answer reads the few passages its search found, so start-up reads none: each is fetched
by (build, row), checked against the checksum its build recorded, parsed, and kept in a
bounded cache. One connection serves every thread, one query at a time.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from bot.core.index.integrity import passage_digest
from bot.core.types import Chunk

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
