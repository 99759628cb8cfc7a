"""Reusing vectors across builds: each embedded text is kept under a hash of the model and the
text, so a rebuild after an edit embeds only the passages that changed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import vectors as vector_index
from bot.core.store import EMBED_KEYS_FILE, SENTENCES_FILE, VECTORS_FILE, read_manifest
from bot.core.types import Chunk, Progress

if TYPE_CHECKING:
    import numpy as np

    from bot.core.embedding import Embedder


def _embed_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()[:32]


def _passage_key(model: str, chunk: Chunk) -> str:
    # Tagged: a passage's vector is pooled from its parts (Embedder.encode_passages), not
    # the vector of its text read whole, which indexes of earlier versions kept.
    return _embed_key(model, f"passage pooled from its parts\0{chunk.embed_text}")


class VectorCache:
    """The vectors of the index being replaced, by embedding key, read when asked for: the
    sentence vectors stay memory-mapped, so a rebuild does not hold two corpora in memory."""

    def __init__(self, keys: list[str] | None = None, passages: Any = None, sentences: Any = None):
        self._row = {key: i for i, key in enumerate(keys or [])}
        self._passages = passages
        self._sentences = sentences

    def __contains__(self, key: str) -> bool:
        return key in self._row

    def __getitem__(self, key: str) -> np.ndarray:
        row = self._row[key]
        if row < len(self._passages):
            return self._passages[row]
        return self._sentences[row - len(self._passages)]


def previous_vectors(index_dir: Path, model: str) -> VectorCache:
    """The vectors of the index being replaced; empty when there is none usable (no index,
    another model, an index built before keys were kept, damage)."""
    import faiss
    import numpy as np

    try:
        manifest = read_manifest(index_dir)
        if manifest is None or manifest.model != model:
            return VectorCache()
        data = index_dir / manifest.data_dir
        keys = (data / EMBED_KEYS_FILE).read_text(encoding="ascii").split()
        index = vector_index.prepare(faiss.read_index(str(data / VECTORS_FILE)))
        passages = index.reconstruct_n(0, index.ntotal)
        sentences = np.load(data / SENTENCES_FILE, allow_pickle=False, mmap_mode="r")
    except Exception:  # a cache only: any problem means embedding everything again
        return VectorCache()
    if len(keys) != len(passages) + len(sentences):
        return VectorCache()
    return VectorCache(keys, passages, sentences)


def embed_chunks(
    chunks: list[Chunk],
    cached: VectorCache,
    embedder: Embedder,
    progress: Progress | None,
    sentences_out: np.ndarray,
    batch: int = 2048,
) -> tuple[np.ndarray, list[str]]:
    """Passage vectors and the keys of all vectors (passages first); the sentence vectors
    (all passages' sentences in order) go into `sentences_out`, which may be a file mapped
    into memory. A passage whose vector and sentence vectors are all in `cached` is not
    embedded again. Passages are embedded `batch` at a time, so what is held in memory at
    once does not grow with the corpus."""
    import numpy as np

    model = embedder.name
    passage_keys = [_passage_key(model, c) for c in chunks]
    sentence_keys = [
        [_embed_key(model, c.sentence_text(k)) for k in range(len(c.sentences))] for c in chunks
    ]
    missing = [
        i
        for i, key in enumerate(passage_keys)
        if key not in cached or any(k not in cached for k in sentence_keys[i])
    ]
    batches = [missing[b : b + batch] for b in range(0, len(missing), batch)]
    if progress:
        texts = sum(len({p for i in rows for p in chunks[i].embed_parts}) for rows in batches)
        unchanged = len(chunks) - len(missing)
        reused = f", {unchanged} unchanged" if unchanged else ""
        progress.start(texts, f"Embedding {len(missing)} passages ({texts} texts){reused}")

    passages = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    first_row, cursor = [], 0
    for c in chunks:
        first_row.append(cursor)
        cursor += len(c.sentences)
    fresh = set(missing)
    for i in range(len(chunks)):
        if i not in fresh:
            passages[i] = cached[passage_keys[i]]
            for k, key in enumerate(sentence_keys[i]):
                sentences_out[first_row[i] + k] = cached[key]
    for rows in batches:
        parts = [chunks[i].embed_parts for i in rows]
        vectors, part_vectors = embedder.encode_passages(
            parts, progress=progress.advance if progress else None
        )
        for j, i in enumerate(rows):
            # The parts before a passage's sentences (its heading) are pooled, not kept.
            skip = len(parts[j]) - len(chunks[i].sentences)
            passages[i] = vectors[j]
            sentences_out[first_row[i] : first_row[i] + len(chunks[i].sentences)] = part_vectors[j][
                skip:
            ]
    keys = passage_keys + [key for block in sentence_keys for key in block]
    return passages, keys
