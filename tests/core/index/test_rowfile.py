"""Sentence vectors written and read a block of rows at a time, as an ordinary .npy file."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.index.rowfile import RowReader, RowWriter


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=60),
    columns=st.integers(min_value=1, max_value=12),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_blocks_written_in_any_order_read_back_as_the_matrix(
    tmp_path_factory, rows, columns, cuts, seed
):
    matrix = np.random.default_rng(seed).standard_normal((rows, columns)).astype(np.float32)
    bounds = sorted({0, rows, *(c for c in cuts if c < rows)})
    blocks = list(itertools.pairwise(bounds))
    np.random.default_rng(seed).shuffle(blocks)
    path = tmp_path_factory.mktemp("rows") / "sentences.npy"
    out = RowWriter(path, (rows, columns))
    for start, stop in blocks:
        if stop - start == 1:
            out[start] = matrix[start]
        else:
            out[start:stop] = matrix[start:stop]
    out.close()
    assert (np.load(path, allow_pickle=False) == matrix).all()
    assert (np.load(path, mmap_mode="r") == matrix).all()
    reader = RowReader(path)
    assert len(reader) == rows
    assert all((reader[i] == matrix[i]).all() for i in range(rows))
    for start, stop in blocks:
        assert (reader[start:stop] == matrix[start:stop]).all()
    assert (reader[0:rows] == matrix).all() and reader[rows:rows].shape == (0, columns)
    if rows > 1:
        with pytest.raises(ValueError):
            reader[0:rows:2]


@settings(max_examples=10, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=300),
    kind=st.sampled_from(["flat", "hnsw", "ivf"]),
    block=st.integers(min_value=1, max_value=64),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_a_vector_index_built_from_disk_a_block_at_a_time_equals_one_built_in_memory(
    tmp_path_factory, rows, kind, block, seed
):
    # A build hands FAISS its passage vectors from disk, a block at a time, so as not to
    # hold them twice; the index must hold the same vectors, in the same rows.
    from bot.core.index import vectors

    matrix = np.random.default_rng(seed).standard_normal((rows, 8)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    path = tmp_path_factory.mktemp("rows") / "passages.npy"
    out = RowWriter(path, matrix.shape)
    out[0:rows] = matrix
    out.close()
    in_memory = vectors.build(kind, matrix)
    from_disk = vectors.build(kind, RowReader(path), block=block)
    assert from_disk.ntotal == in_memory.ntotal == rows
    stored = vectors.prepare(from_disk).reconstruct_n(0, rows)
    assert np.allclose(stored, matrix, atol=1e-6)
    if kind == "flat":
        assert (
            vectors.search(from_disk, matrix[:1], 5)[1]
            == vectors.search(in_memory, matrix[:1], 5)[1]
        ).all()


def test_a_file_that_is_not_a_float32_matrix_is_refused(tmp_path):
    path = tmp_path / "ints.npy"
    np.save(path, np.arange(12).reshape(3, 4))
    with pytest.raises(ValueError):
        RowReader(path)
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((4, 3), dtype=np.float32))
    short.write_bytes(short.read_bytes()[:-8])
    with pytest.raises(ValueError):
        RowReader(short)[3]
