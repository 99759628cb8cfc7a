"""The FAISS index over passage vectors: exact (flat) for small corpora, approximate (HNSW or
IVF) for large ones, where an exact search grows with the corpus.

Vectors are unit length, so inner product is cosine similarity. Search parameters are set at
build time and saved with the index (FAISS stores efSearch and nprobe), chosen so recall@10
against exact search stays at or above 0.95 (`qabot bench` measures it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Below this many passages an exact search is both fast (a few ms) and exact.
AUTO_FLAT_LIMIT = 50_000

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 512
# Share of the lists searched: recall@10 0.966 at 100,000 vectors and 0.993 at 1M with a
# quarter, but 0.88 at 10,000 and 0.94 at 30,000 (fewer, coarser lists); half gives 0.98 and
# 0.995 there (`qabot bench`'s synthetic vectors). IVF is only built when asked for.
IVF_PROBE_SHARE = 1 / 4
IVF_PROBE_SHARE_SMALL = 1 / 2  # below AUTO_FLAT_LIMIT vectors
IVF_TRAIN_PER_LIST = 40  # training vectors per list (FAISS warns below 39)
ADD_BLOCK = 16_384  # vectors handed to FAISS at a time (24 MB at 384 dimensions)


def choose(kind: str, count: int) -> str:
    """The index type to build for `count` passages under the `index_type` setting."""
    if kind != "auto":
        return kind
    return "flat" if count < AUTO_FLAT_LIMIT else "hnsw"


def factory_string(kind: str, count: int) -> str:
    """FAISS's index_factory description of index type `kind` over `count` vectors: every
    type stores the vectors themselves ("Flat"), so scores are exact inner products."""
    if kind == "flat" or count == 0:
        return "Flat"
    if kind == "hnsw":
        return f"HNSW{HNSW_M},Flat"
    if kind == "ivf":
        return f"IVF{_ivf_lists(count)},Flat"
    raise ValueError(f"unknown index type {kind!r}")


def build(kind: str, vectors: Any, block: int = ADD_BLOCK) -> Any:
    """A FAISS inner-product index of type `kind` ("flat", "hnsw" or "ivf") over `vectors`:
    an array, or rows on disk (bot.core.index.rowfile.RowReader). They are added a block at a time,
    so a build from disk never holds them twice, once read and once in the index."""
    import faiss
    import numpy as np

    n, dim = vectors.shape
    index = faiss.index_factory(dim, factory_string(kind, n), faiss.METRIC_INNER_PRODUCT)
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        index.train(_training_sample(vectors, ivf.nlist))
        share = IVF_PROBE_SHARE_SMALL if n < AUTO_FLAT_LIMIT else IVF_PROBE_SHARE
        ivf.nprobe = max(1, math.ceil(ivf.nlist * share))
    for start in range(0, n, block):
        index.add(np.ascontiguousarray(vectors[start : start + block], dtype=np.float32))
    return index


def read(path: Path) -> Any:
    """The index a build wrote to `path`, memory-mapped: opening it costs the same whatever
    its size, and only the pages a search touches are read (and shared between processes
    answering from the same index).

    IO_FLAG_MMAP_IFC (FAISS 1.11 and later) maps what all three types keep per vector: the
    flat index's vectors, HNSW's flat storage and neighbour lists (it still reads each
    node's level and offset, 12 bytes a vector), IVF-flat's inverted lists. The older
    IO_FLAG_MMAP maps only IVF lists (as OnDiskInvertedLists) and copies the rest into
    memory. READ_ONLY: nothing is ever added to a loaded index; an older FAISS reads it
    whole, as before."""
    import faiss

    mapped = getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
    flags = mapped | faiss.IO_FLAG_READ_ONLY if mapped else 0
    return faiss.read_index(str(path), flags)


def prepare(index: Any) -> Any:
    """`index`, able to give back any row's vector (reconstruct): an IVF index first maps
    every row to its list, which reads every list's ids. Opening an index for answering
    does not: the engine reads a passage's vector from its own matrix (chunks.vectors.npy)."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.make_direct_map()
    return index


def search(index: Any, vector: np.ndarray, k: int, rows: range | None = None) -> tuple[Any, Any]:
    """FAISS's (scores, rows) of the k nearest passages; within `rows` only when given (one
    document's passages, which a build stores side by side), searched exactly there."""
    if rows is None:
        return index.search(vector, k)
    import faiss
    import numpy as np

    # Kept referenced while FAISS searches: SearchParameters does not own its selector.
    selector = faiss.IDSelectorRange(rows.start, rows.stop, True)  # ids sorted in IVF lists
    target, params = _exact_within(index, selector)
    scores, found = target.search(vector, k, params=params)
    # Equal scores in row order, as a stable sort of the document's scores would give.
    order = np.lexsort((found[0], -scores[0]))
    return scores[:, order], found[:, order]


def _exact_within(index: Any, selector: Any) -> tuple[Any, Any]:
    """The index and parameters that search the selected rows exhaustively. A flat index
    restricted to a range of ids scans only that range; an IVF index probes every list
    (the selected ids, sorted in each list, are found by bisection); an HNSW graph searched
    with a selector walks the whole graph and still misses rows, so its flat storage,
    holding the same vectors, is searched instead."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return index, faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nlist)
    if isinstance(index, faiss.IndexHNSW):
        return faiss.downcast_index(index.storage), faiss.SearchParameters(sel=selector)
    return index, faiss.SearchParameters(sel=selector)


def _training_sample(vectors: Any, lists: int) -> Any:
    """What IVF's k-means trains on: every vector, or 256 a list drawn at random (seeded, so
    a rebuild trains on the same sample) when there are more."""
    import numpy as np

    n = vectors.shape[0]
    if n > lists * 256:
        rows = np.sort(np.random.default_rng(0).choice(n, lists * 256, replace=False))
        sample = (
            vectors[rows]
            if isinstance(vectors, np.ndarray)
            else np.stack([vectors[int(r)] for r in rows])
        )
    else:
        sample = vectors[0:n]
    return np.ascontiguousarray(sample, dtype=np.float32)


def _ivf_lists(n: int) -> int:
    # About 4·√n lists, but never so many that k-means has too few points per list.
    return max(1, min(int(4 * math.sqrt(n)), n // IVF_TRAIN_PER_LIST))
