"""The FAISS index types: built from factory strings, opened memory-mapped, and searched
within one document's rows through an ID selector, exactly."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from bot.core.index import vectors

KINDS = ["flat", "hnsw", "ivf"]
mapped = pytest.mark.skipif(
    not hasattr(faiss, "IO_FLAG_MMAP_IFC"), reason="this FAISS cannot map an index (< 1.11)"
)


def _unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Each type over the same 2,000 vectors, written as a build writes it."""
    folder = tmp_path_factory.mktemp("vectors")
    matrix = _unit(2000, 32)
    paths = {}
    for kind in KINDS:
        paths[kind] = folder / f"{kind}.faiss"
        faiss.write_index(vectors.build(kind, matrix), str(paths[kind]))
    return paths


def test_the_factory_strings_name_the_types_built_by_hand_before():
    assert vectors.factory_string("flat", 10) == "Flat"
    assert vectors.factory_string("hnsw", 0) == "Flat"  # nothing to build a graph over
    assert vectors.factory_string("hnsw", 10) == f"HNSW{vectors.HNSW_M},Flat"
    assert vectors.factory_string("ivf", 10_000) == "IVF250,Flat"
    index = vectors.build("hnsw", _unit(50, 8))
    assert isinstance(index, faiss.IndexHNSWFlat)
    assert index.metric_type == faiss.METRIC_INNER_PRODUCT
    assert (index.hnsw.efConstruction, index.hnsw.efSearch) == (80, 512)
    ivf = vectors.build("ivf", _unit(4000, 8))
    assert isinstance(ivf, faiss.IndexIVFFlat) and (ivf.nlist, ivf.nprobe) == (100, 50)
    assert ivf.metric_type == faiss.METRIC_INNER_PRODUCT


def test_ivf_keeps_recall_at_10_of_095_against_exact_search_when_small():
    """What vectors.py promises of its search parameters, at a size where IVF's lists are
    few and coarse (a quarter of them searched gave 0.88; larger sizes: docs/performance.md)."""
    from bot.tools.scale import scale

    assert scale(10_000, "ivf", queries=100)["recall_at_10"] >= 0.95


def _storage_is_mapped(index) -> bool:
    """Whether what `index` keeps per vector is a view of the file, not a copy in memory."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        lists = faiss.downcast_InvertedLists(ivf.invlists)
        return not any(lists.codes.at(i).is_owned for i in range(ivf.nlist))
    if isinstance(index, faiss.IndexHNSW):
        storage = faiss.downcast_index(index.storage)
        return not storage.codes.is_owned and not index.hnsw.neighbors.is_owned
    return not index.codes.is_owned


@mapped
@pytest.mark.parametrize("kind", KINDS)
def test_every_type_opens_memory_mapped_and_searches_as_one_read_whole(written, kind):
    paths = written
    opened = vectors.read(paths[kind])
    whole = faiss.read_index(str(paths[kind]))
    assert _storage_is_mapped(opened) and not _storage_is_mapped(whole)
    probes = _unit(20, 32, seed=1)
    for got, expected in zip(opened.search(probes, 10), whole.search(probes, 10), strict=True):
        assert (got == expected).all()


def _anonymous_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("RssAnon:"))


@mapped
def test_opening_a_large_index_does_not_grow_memory_with_its_size(tmp_path):
    path = tmp_path / "large.faiss"
    index = faiss.IndexFlatIP(384)
    index.add(_unit(40_000, 384))  # 59 MB of vectors
    faiss.write_index(index, str(path))
    del index
    size_kb = path.stat().st_size // 1024
    before = _anonymous_kb()
    whole = faiss.read_index(str(path))
    read_kb = _anonymous_kb() - before
    before = _anonymous_kb()
    opened = vectors.read(path)
    mapped_kb = _anonymous_kb() - before
    assert whole.ntotal == opened.ntotal == 40_000
    assert read_kb > size_kb * 0.9 and mapped_kb < size_kb * 0.05


def _numpy_within(index, vector, k, rows):
    """How a document's rows were searched before the ID selector: its vectors reconstructed
    and ranked in numpy, equal scores in row order."""
    block = vectors.prepare(index).reconstruct_n(rows.start, len(rows))
    sims = block @ vector[0]
    top = np.argsort(-sims, kind="stable")[:k]
    return sims[top], top + rows.start


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rows", [range(0, 7), range(1200, 1350), range(1990, 2000)])
def test_a_search_within_rows_returns_only_them_ranked_as_before(written, kind, rows):
    paths = written
    index = faiss.read_index(str(paths[kind]))
    exact = faiss.read_index(str(paths["flat"]))
    for seed in range(5):
        probe = _unit(1, 32, seed=10 + seed)
        k = min(10, len(rows))
        scores, found = vectors.search(index, probe, k, rows)
        assert all(row in rows for row in found[0])
        before_scores, before_rows = _numpy_within(index, probe, k, rows)
        assert found[0].tolist() == before_rows.tolist()
        assert np.allclose(scores[0], before_scores, atol=1e-6)
        # The same as an exact search of every row, with the rows outside left out.
        all_scores, all_rows = exact.search(probe, exact.ntotal)
        inside = [(s, r) for s, r in zip(all_scores[0], all_rows[0], strict=True) if r in rows]
        assert found[0].tolist() == [r for _, r in inside[:k]]
        assert scores[0].tolist() == [s for s, _ in inside[:k]]


@pytest.mark.parametrize("kind", KINDS)
def test_equal_scores_within_rows_come_in_row_order(kind):
    matrix = _unit(600, 16)
    matrix[300:310] = matrix[305]  # one passage ten times over (a repeated boilerplate)
    index = vectors.build(kind, matrix)
    _, found = vectors.search(index, matrix[305:306], 5, range(295, 320))
    assert found[0].tolist() == [300, 301, 302, 303, 304]
