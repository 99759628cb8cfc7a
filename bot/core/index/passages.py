"""The passages of a loaded index, read from chunks.jsonl when asked for.

An answer reads the few passages its search found, so start-up does not parse every passage:
a small table written with the index (chunks.rows.npy) gives each passage's line in
chunks.jsonl and its first sentence row, and the file is mapped into memory, not read.
"""

from __future__ import annotations

import functools
import json
import mmap
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

from bot.core.types import Chunk

if TYPE_CHECKING:
    import numpy as np

# Parsed passages kept: an answer touches a few dozen; a Telegram bot under load, a few
# hundred a second, mostly the same ones.
PARSED_KEPT = 4096


class RowsTable:
    """The table of a chunks.jsonl, a passage at a time: row i is (byte offset of passage i's
    line, its first sentence row); a last row holds the totals."""

    def __init__(self) -> None:
        self._offsets = array("q", [0])
        self._first_sentence = array("q", [0])

    def add(self, line: str, sentences: int) -> None:
        self._offsets.append(self._offsets[-1] + len(line.encode("utf-8")))
        self._first_sentence.append(self._first_sentence[-1] + sentences)

    def array(self) -> np.ndarray:
        import numpy as np

        return np.stack(
            [np.frombuffer(self._offsets, np.int64), np.frombuffer(self._first_sentence, np.int64)],
            axis=1,
        )


def rows_table(lines: Iterable[str]) -> np.ndarray:
    """The table of chunks.jsonl's lines as written (an index built before it was kept)."""
    table = RowsTable()
    for line in lines:
        table.add(line, len(json.loads(line)["sentences"]))
    return table.array()


def chunk_line(chunk: Chunk) -> str:
    """A passage as a line of chunks.jsonl."""
    return json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n"


class Passages(Sequence[Chunk]):
    """The passages of chunks.jsonl by row, each parsed when first read."""

    def __init__(self, path: Path, table: np.ndarray):
        self.table = table
        with open(path, "rb") as fh:
            size = self.file_size = fh.seek(0, 2)
            # An empty file cannot be mapped; an index always has a passage.
            self._data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._parse = functools.lru_cache(maxsize=PARSED_KEPT)(self._read)

    def __len__(self) -> int:
        return len(self.table) - 1

    @overload
    def __getitem__(self, row: int) -> Chunk: ...
    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...
    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        if isinstance(row, slice):
            return [self._parse(i) for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"passage {row} of {len(self)}")
        return self._parse(row)

    def __iter__(self) -> Iterator[Chunk]:
        # Straight from the file: a full scan would only push the hot passages out.
        return (self._read(i) for i in range(len(self)))

    def sentence_rows(self, row: int) -> range:
        """The rows of passage `row`'s sentences in the sentence vectors."""
        return range(int(self.table[row, 1]), int(self.table[row + 1, 1]))

    def _read(self, row: int) -> Chunk:
        from bot.core.errors import IndexStoreError

        start, end = int(self.table[row, 0]), int(self.table[row + 1, 0])
        try:
            return Chunk.from_dict(json.loads(self._data[start:end]))
        except (ValueError, KeyError, TypeError):
            # Checked by size at load; edited text of the same size shows here.
            raise IndexStoreError(
                f"the index is damaged (passage {row} cannot be read); "
                "rebuild it: qabot index rebuild"
            ) from None
