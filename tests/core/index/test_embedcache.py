"""The vectors of the previous build, found by the key of the text they embed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.index.embedcache import KEY_CHARS, VectorCache, embed_key, read_keys


@settings(max_examples=50, deadline=None)
@given(
    texts=st.lists(st.text(max_size=20), unique=True, min_size=1, max_size=40),
    probes=st.lists(st.text(max_size=20), max_size=10),
    split=st.integers(min_value=0, max_value=40),
)
def test_every_kept_key_finds_its_vector_and_no_other_does(tmp_path_factory, texts, probes, split):
    keys = [embed_key("model", t) for t in texts]
    vectors = np.arange(len(keys) * 3, dtype=np.float32).reshape(-1, 3)
    cut = min(split, len(keys))  # passages first, then sentences, as embedded.keys lists them
    path = tmp_path_factory.mktemp("keys") / "embedded.keys"
    path.write_text("".join(k + "\n" for k in keys), encoding="ascii")
    cache = VectorCache(read_keys(path), vectors[:cut], vectors[cut:])
    for i, text in enumerate(texts):
        assert embed_key("model", text) in cache
        assert (cache[embed_key("model", text)] == vectors[i]).all()
    for text in probes:
        if text not in texts:
            assert embed_key("model", text) not in cache
            with pytest.raises(KeyError):
                cache[embed_key("model", text)]


@pytest.mark.parametrize(
    "content", ["abc\n", "x" * KEY_CHARS + "\n" + "y" * KEY_CHARS, ("z" * (KEY_CHARS + 1)) * 2]
)
def test_a_keys_file_that_is_not_one_key_a_line_is_refused(tmp_path, content):
    path = tmp_path / "embedded.keys"
    path.write_text(content, encoding="ascii")
    with pytest.raises(ValueError):
        read_keys(path)


def test_an_empty_cache_holds_nothing():
    assert embed_key("model", "text") not in VectorCache()
