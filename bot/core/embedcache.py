"""Reusing vectors across builds: each embedded text is kept under a hash of the model and the
text, so a rebuild after an edit embeds only the passages that changed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

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


def previous_vectors(index_dir: Path, model: str) -> dict[str, np.ndarray]:
    """The vectors of the index being replaced, by embedding key; empty when there is none
    usable (no index, another model, an index built before keys were kept, damage)."""
    import faiss
    import numpy as np

    try:
        manifest = read_manifest(index_dir)
        if manifest is None or manifest.model != model:
            return {}
        data = index_dir / manifest.data_dir
        keys = (data / EMBED_KEYS_FILE).read_text(encoding="ascii").split()
        index = vector_index.prepare(faiss.read_index(str(data / VECTORS_FILE)))
        passages = index.reconstruct_n(0, index.ntotal)
        vectors = np.concatenate([passages, np.load(data / SENTENCES_FILE, allow_pickle=False)])
    except Exception:  # a cache only: any problem means embedding everything again
        return {}
    if len(keys) != len(vectors):
        return {}
    return dict(zip(keys, vectors, strict=True))


def embed_chunks(
    chunks: list[Chunk],
    cached: dict[str, np.ndarray],
    embedder: Embedder,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Passage vectors, sentence vectors (all passages' sentences in order) and the keys of
    both (passages first). A passage whose vector and sentence vectors are all in `cached`
    is not embedded again."""
    import numpy as np

    model = embedder.name
    parts = [c.embed_parts for c in chunks]
    # The parts before a passage's sentences (its heading) are pooled but not kept.
    first_sentence = [len(p) - len(c.sentences) for p, c in zip(parts, chunks, strict=True)]
    passage_keys = [_passage_key(model, c) for c in chunks]
    sentence_keys = [
        [_embed_key(model, text) for text in p[first:]]
        for p, first in zip(parts, first_sentence, strict=True)
    ]
    missing = [
        i
        for i, key in enumerate(passage_keys)
        if key not in cached or any(k not in cached for k in sentence_keys[i])
    ]
    groups = [parts[i] for i in missing]
    if progress:
        texts = len(set().union(*groups)) if groups else 0
        unchanged = len(chunks) - len(missing)
        reused = f", {unchanged} unchanged" if unchanged else ""
        progress.start(texts, f"Embedding {len(missing)} passages ({texts} texts){reused}")
    fresh, fresh_parts = embedder.encode_passages(
        groups, progress=progress.advance if progress else None
    )

    passages = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    sentences = []
    fresh_row = {i: j for j, i in enumerate(missing)}
    for i in range(len(chunks)):
        j = fresh_row.get(i)
        if j is None:
            passages[i] = cached[passage_keys[i]]
            sentences.append(np.stack([cached[k] for k in sentence_keys[i]]))
        else:
            passages[i] = fresh[j]
            sentences.append(fresh_parts[j][first_sentence[i] :])
    sentence_vectors = np.concatenate(sentences) if sentences else passages[:0]
    keys = passage_keys + [key for block in sentence_keys for key in block]
    return passages, sentence_vectors, keys
