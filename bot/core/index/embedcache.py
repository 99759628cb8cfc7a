"""Reusing vectors across builds: each embedded text is kept under a hash of the model and the
text, so a rebuild after an edit embeds only the passages that changed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.index import vectors as vector_index
from bot.core.index.rowfile import RowReader
from bot.core.index.store import (
    EMBED_KEYS_FILE,
    PASSAGES_FILE,
    SENTENCES_FILE,
    VECTORS_FILE,
    read_manifest,
)
from bot.core.types import Chunk

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


def read_keys(path: Path) -> Any:
    """embedded.keys as an array of fixed-width keys, one per line."""
    import numpy as np

    raw = path.read_bytes()
    if len(raw) % (KEY_CHARS + 1):
        raise ValueError(f"{path.name} is not a list of keys")
    lines = np.frombuffer(raw, dtype=[("key", f"S{KEY_CHARS}"), ("end", "S1")])
    if not (lines["end"] == b"\n").all():
        raise ValueError(f"{path.name} is not a list of keys")
    return lines["key"]


def previous_vectors(index_dir: Path, model: str) -> VectorCache:
    """The vectors of the index being replaced; empty when there is none usable (no index,
    another model, an index built before keys were kept, damage)."""
    import faiss

    try:
        manifest = read_manifest(index_dir)
        if manifest is None or manifest.model != model:
            return VectorCache()
        data = index_dir / manifest.data_dir
        keys = read_keys(data / EMBED_KEYS_FILE)
        if (data / PASSAGES_FILE).is_file():
            passages: Any = RowReader(data / PASSAGES_FILE)
        else:  # an index from before the passage vectors had a file of their own
            index = vector_index.prepare(faiss.read_index(str(data / VECTORS_FILE)))
            passages = index.reconstruct_n(0, index.ntotal)
        sentences = RowReader(data / SENTENCES_FILE)
    except Exception:  # a cache only: any problem means embedding everything again
        return VectorCache()
    if len(keys) != len(passages) + len(sentences):
        return VectorCache()
    return VectorCache(keys, passages, sentences)
