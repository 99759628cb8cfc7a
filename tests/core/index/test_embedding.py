"""The int8 backend: vectors close to the default model's, and never mixed with them."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.index.embedding import Embedder
from bot.core.index.freshness import staleness
from bot.core.index.snapshot import load_index, read_manifest
from bot.core.index.store import IndexStore
from bot.core.settings import DEFAULT_MODEL, ChunkerSettings, EmbedderSettings
from tests.conftest import ARTICLE


@pytest.fixture(scope="module")
def int8_embedder() -> Embedder:
    return Embedder(EmbedderSettings(backend="torch-int8"))


def test_int8_vectors_are_close_to_the_default_but_not_the_same(embedder, int8_embedder):
    sentences = [
        "Abe arrives in Beijing on Thursday.",
        "The country has a trade surplus of nearly $70 billion with the US.",
    ]
    default = np.concatenate([embedder.encode_query(s) for s in sentences])
    int8 = np.concatenate([int8_embedder.encode_query(s) for s in sentences])
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    cosines = (default * int8).sum(axis=1)
    assert (cosines > 0.8).all() and (cosines < 0.999).all(), cosines
    assert int8_embedder.name == f"{DEFAULT_MODEL} (torch-int8)"
    assert embedder.name == DEFAULT_MODEL  # the default's identity, and its indexes, unchanged


def test_an_index_of_one_backend_is_rebuilt_under_the_other(
    tmp_path, article_index_dir, embedder, int8_embedder
):
    index_dir = tmp_path / "index"
    shutil.copytree(article_index_dir, index_dir)
    default = load_index(index_dir, read_manifest(index_dir))
    assert staleness(default.manifest, [ARTICLE], int8_embedder.name, ChunkerSettings()) == [
        f"the model changed ({DEFAULT_MODEL} -> {DEFAULT_MODEL} (torch-int8))"
    ]

    messages: list[str] = []
    int8 = IndexStore(index_dir).open_updated(
        int8_embedder, ChunkerSettings(), None, [ARTICLE], notify=messages.append
    )
    assert "out of date (the model changed" in messages[-1]
    assert int8.manifest.model == int8_embedder.name
    # Embedded anew, not reused from the index it replaced.
    assert not np.allclose(int8.sentence_vectors, default.sentence_vectors, atol=1e-3)
    assert staleness(int8.manifest, [ARTICLE], embedder.name, ChunkerSettings())


def test_word_pieces_are_counted_in_batches_as_one_by_one(embedder):
    """A large document's sentences are counted a batch at a time (memory); the counts are
    the tokenizer's for each text, whatever batch it falls in."""
    from bot.core.index.embedding import COUNT_BATCH

    texts = [f"Sentence {i} has {'many ' * (i % 7)}words." for i in range(COUNT_BATCH + 5)]
    one_by_one = [len(embedder.model.tokenizer.tokenize(t)) for t in texts]
    assert embedder.count_tokens(iter(texts)) == one_by_one
    assert embedder.count_tokens([]) == []


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(max_size=400), max_size=6))
def test_counting_without_the_model_agrees_with_the_models_tokenizer(embedder, texts):
    """Reading a corpus counts word pieces from the model's tokenizer file, without loading
    the model: every text counts exactly as the loaded model's tokenizer counts it, long
    texts (which the chunker cuts) included."""
    expected = [
        len(embedder.model.tokenizer(t, add_special_tokens=False, verbose=False)["input_ids"])
        for t in texts
    ]
    assert embedder.count_tokens(texts) == expected
    assert embedder.max_tokens == embedder.model.max_seq_length - 2
