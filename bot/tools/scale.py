"""How each FAISS index type (flat, HNSW, IVF) scales: build time, memory, search latency and
recall@10 against exact search, on synthetic vectors shaped like sentence embeddings.

It measures the core's vector index itself, so it imports `bot.core.index.vectors` directly: the one
import of a core module outside the service that the import contract allows.
"""

from __future__ import annotations

import statistics
import time
from typing import Any


def synthetic_vectors(n: int, dim: int = 384, intrinsic: int = 48, seed: int = 0) -> Any:
    """Unit vectors spread over a random 48-dimensional subspace: sentence embeddings use far
    fewer directions than their 384, and uniformly random vectors (no neighbours worth the
    name) would understate every approximate index."""
    import numpy as np

    basis = np.random.default_rng(42).standard_normal((intrinsic, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        block = rng.standard_normal((stop - start, intrinsic)).astype(np.float32) @ basis
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def scale(n: int, kind: str, queries: int = 200) -> dict[str, Any]:
    import faiss
    import numpy as np

    from bot.core.index import vectors as vector_index

    data = synthetic_vectors(n)
    probes = synthetic_vectors(queries, seed=1)
    exact = faiss.IndexFlatIP(data.shape[1])
    exact.add(data)
    _, truth = exact.search(probes, 10)
    del exact
    started = time.perf_counter()
    index = vector_index.build(kind, data)
    build_s = time.perf_counter() - started
    latencies = []
    for probe in probes:
        t = time.perf_counter()
        index.search(probe[None, :], 10)
        latencies.append((time.perf_counter() - t) * 1000)
    _, found = index.search(probes, 10)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)]))
    memory = len(faiss.serialize_index(index))
    return {
        "vectors": n,
        "type": kind,
        "build_s": round(build_s, 2),
        "memory_mb": round(memory / 2**20, 1),
        "search_p50_ms": round(statistics.median(latencies), 3),
        "recall_at_10": round(recall, 3),
    }
