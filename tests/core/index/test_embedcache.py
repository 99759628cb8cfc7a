"""The vectors of the previous build, found by the key of the text they embed."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.index import schema
from bot.core.index.embedcache import KEY_CHARS, VectorCache, embed_key, read_keys


def _db_with(passages: list[tuple[int, bytes]]) -> sqlite3.Connection:
    """A database holding build "b" with passages of (sentence count, keys blob)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    schema.migrate(db)
    first = 0
    for row, (count, keys) in enumerate(passages):
        db.execute(
            "INSERT INTO passages VALUES ('b', ?, ?, ?, '{}', x'00', ?)", (row, first, count, keys)
        )
        first += count
    return db


@settings(max_examples=50, deadline=None)
@given(
    texts=st.lists(st.text(max_size=20), unique=True, min_size=1, max_size=40),
    probes=st.lists(st.text(max_size=20), max_size=10),
    split=st.integers(min_value=0, max_value=40),
)
def test_every_kept_key_finds_its_vector_and_no_other_does(tmp_path_factory, texts, probes, split):
    keys = [embed_key("model", t) for t in texts]
    vectors = np.arange(len(keys) * 3, dtype=np.float32).reshape(-1, 3)
    # Passages first, then sentences: as the rows of the passage and sentence vectors. The
    # passages' sentences, in order, are the keys after the passages'.
    cut = max(1, min(split, len(keys)))
    sentences = keys[cut:]
    per = [len(sentences) // cut + (i < len(sentences) % cut) for i in range(cut)]
    blobs, at = [], 0
    for i in range(cut):
        blobs.append((per[i], "".join([keys[i], *sentences[at : at + per[i]]]).encode()))
        at += per[i]
    read = read_keys(_db_with(blobs), "b", cut, len(sentences))
    cache = VectorCache(read, vectors[:cut], vectors[cut:])
    for i, text in enumerate(texts):
        assert embed_key("model", text) in cache
        assert (cache[embed_key("model", text)] == vectors[i]).all()
    for text in probes:
        if text not in texts:
            assert embed_key("model", text) not in cache
            with pytest.raises(KeyError):
                cache[embed_key("model", text)]


@pytest.mark.parametrize(
    ("passages", "sentences"),
    [
        ([(0, b"abc")], 0),  # not a whole key
        ([(1, b"x" * KEY_CHARS)], 1),  # a sentence without its key
        ([(0, b"z" * KEY_CHARS)], 1),  # fewer sentences than the vectors hold
    ],
)
def test_keys_that_do_not_match_the_passages_are_refused(passages, sentences):
    with pytest.raises(ValueError):
        read_keys(_db_with(passages), "b", len(passages), sentences)


def test_an_empty_cache_holds_nothing():
    assert embed_key("model", "text") not in VectorCache()
