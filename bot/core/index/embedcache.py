"""Reusing vectors across builds: each embedded text is kept under a hash of the model and the
text, so a rebuild after an edit embeds only the passages that changed."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.index.rowfile import RowReader
from bot.core.index.snapshot import PASSAGES_FILE, SENTENCES_FILE
from bot.core.types import Chunk, Manifest

KEY_CHARS = 32  # hex digits of sha256 kept per key: collisions stay out of reach

if TYPE_CHECKING:
    import numpy as np


def embed_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()[:KEY_CHARS]


def passage_key(model: str, chunk: Chunk) -> str:
    # Tagged: a passage's vector is pooled from its parts (Embedder.encode_passages), not
    # the vector of its text read whole, which indexes of earlier versions kept.
    return embed_key(model, f"passage pooled from its parts\0{chunk.embed_text}")


class VectorCache:
    """The vectors of the index being replaced, by embedding key, read when asked for: the
    sentence vectors are read from disk row by row and the keys sit in one sorted array (a
    few bytes a key, not a dictionary of strings), so a rebuild does not hold two corpora in
    memory."""

    def __init__(self, keys: Any = None, passages: Any = None, sentences: Any = None):
        import numpy as np

        keys = np.empty(0, dtype=f"S{KEY_CHARS}") if keys is None else keys
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]
        self._passages = passages
        self._sentences = sentences

    def _row(self, key: str) -> int | None:
        import numpy as np

        wanted = key.encode("ascii")
        i = int(np.searchsorted(self._sorted, wanted))
        if i < len(self._sorted) and self._sorted[i] == wanted:
            return int(self._order[i])
        return None

    def __contains__(self, key: str) -> bool:
        return self._row(key) is not None

    def __getitem__(self, key: str) -> np.ndarray:
        row = self._row(key)
        if row is None:
            raise KeyError(key)
        if row < len(self._passages):
            return self._passages[row]
        return self._sentences[row - len(self._passages)]


def read_keys(db: sqlite3.Connection, build: str, passages: int, sentences: int) -> Any:
    """The embedding keys of a build's passages, then of their sentences (the rows of the
    passage and sentence vectors), as one array of fixed-width keys."""
    import numpy as np

    keys = np.empty(passages + sentences, dtype=f"S{KEY_CHARS}")
    at, row = passages, 0
    found = db.execute(
        "SELECT row, sentences, keys FROM passages WHERE build = ? ORDER BY row", (build,)
    )
    for row_number, count, blob in found:
        if row_number != row or len(blob) != (count + 1) * KEY_CHARS or at + count > len(keys):
            raise ValueError("the embedding keys do not match the passages")
        own = np.frombuffer(blob, dtype=f"S{KEY_CHARS}")
        keys[row] = own[0]
        keys[at : at + count] = own[1:]
        at, row = at + count, row + 1
    if row != passages or at != len(keys):
        raise ValueError("the embedding keys do not match the passages")
    return keys


def previous_vectors(
    index_dir: Path, db: sqlite3.Connection, manifest: Manifest | None, model: str
) -> VectorCache:
    """The vectors of the build `manifest` records (the one being replaced); empty when there
    is none usable (no index, another model, damage)."""
    if manifest is None or manifest.model != model:
        return VectorCache()
    data = index_dir / manifest.data_dir
    try:
        passages = RowReader(data / PASSAGES_FILE)
        sentences = RowReader(data / SENTENCES_FILE)
        keys = read_keys(db, manifest.build_id, len(passages), len(sentences))
    except Exception:  # a cache only: any problem means embedding everything again
        return VectorCache()
    return VectorCache(keys, passages, sentences)
