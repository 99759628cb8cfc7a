"""The FAISS index over passage vectors: exact (flat) for small corpora, approximate (HNSW or
IVF) for large ones, where an exact search grows with the corpus.

Vectors are unit length, so inner product is cosine similarity. Search parameters are set at
build time and saved with the index (FAISS stores efSearch and nprobe), chosen so recall@10
against exact search stays at or above 0.95 (`qabot bench` measures it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Below this many passages an exact search is both fast (a few ms) and exact.
AUTO_FLAT_LIMIT = 50_000

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 512
IVF_PROBE_SHARE = 1 / 4  # share of the lists searched
IVF_TRAIN_PER_LIST = 40  # training vectors per list (FAISS warns below 39)
ADD_BLOCK = 16_384  # vectors handed to FAISS at a time (24 MB at 384 dimensions)


def choose(kind: str, count: int) -> str:
    """The index type to build for `count` passages under the `index_type` setting."""
    if kind != "auto":
        return kind
    return "flat" if count < AUTO_FLAT_LIMIT else "hnsw"


def build(kind: str, vectors: Any, block: int = ADD_BLOCK) -> Any:
    """A FAISS inner-product index of type `kind` ("flat", "hnsw" or "ivf") over `vectors`:
    an array, or rows on disk (bot.core.index.rowfile.RowReader). They are added a block at a time,
    so a build from disk never holds them twice, once read and once in the index."""
    import faiss
    import numpy as np

    n, dim = vectors.shape
    if kind == "flat" or n == 0:
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "ivf":
        lists = _ivf_lists(n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        if n > lists * 256:
            rows = np.random.default_rng(0).choice(n, lists * 256, replace=False)
            rows = np.sort(rows)
            sample = (
                vectors[rows]
                if isinstance(vectors, np.ndarray)
                else np.stack([vectors[int(r)] for r in rows])
            )
        else:
            sample = vectors[0:n]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.nprobe = max(1, math.ceil(lists * IVF_PROBE_SHARE))
    else:
        raise ValueError(f"unknown index type {kind!r}")
    for start in range(0, n, block):
        index.add(np.ascontiguousarray(vectors[start : start + block], dtype=np.float32))
    return index


def prepare(index: Any) -> Any:
    """Make a loaded index ready for the engine, which reconstructs vectors by row."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index) if hasattr(faiss, "try_extract_index_ivf") else None
    if ivf is not None:
        ivf.make_direct_map()
    return index


def search(index: Any, vector: np.ndarray, k: int, rows: range | None = None) -> tuple[Any, Any]:
    """FAISS's (scores, rows) of the k nearest passages; within `rows` only when given (one
    document's passages, which a build stores side by side), searched exactly there."""
    if rows is None:
        return index.search(vector, k)
    import numpy as np

    block = index.reconstruct_n(rows.start, len(rows))
    sims = block @ vector[0]
    top = np.argsort(-sims, kind="stable")[:k]
    return sims[top][None, :], (top + rows.start)[None, :]


def _ivf_lists(n: int) -> int:
    # About 4·√n lists, but never so many that k-means has too few points per list.
    return max(1, min(int(4 * math.sqrt(n)), n // IVF_TRAIN_PER_LIST))
