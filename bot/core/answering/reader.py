"""The reader: a small cross-encoder that reads a question together with one candidate
sentence and says how likely the sentence is to answer it, and where in it the answer is.

The bi-encoder that retrieves (all-MiniLM-L6-v2) measures topic similarity; it cannot tell a
sentence that answers from one about the same thing. The reader can: it was fine-tuned from
the same MiniLM weights on questions written for this project (`qabot train-reader`,
docs/reader.md), with hard negatives mined by qabot's own retrieval. It runs through ONNX
Runtime (int8), tokenised by the `tokenizers` library from its own tokenizer.json: no torch.

Input: the question (and the previous question, for a follow-up), then the sentence's heading
path, the sentence, and the sentence before it (for what "it" or "the group" refers to).
Output per sentence: the probability that it answers, and the answer's span inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core.answering.selector import Selector

READER_FILES = ("reader.onnx", "tokenizer.json", "reader.json")
MAX_SPAN_TOKENS = 24  # an answer span is a name, a number, a phrase: never a paragraph


@dataclass(frozen=True)
class ReaderInput:
    """One question–sentence pair, as the reader sees it."""

    question: str
    sentence: str
    heading: str = ""
    before: str = ""  # the sentence before, in the same passage ("" for the first)
    previous: str = ""  # the previous question of the conversation ("" when standalone)


@dataclass(frozen=True)
class Reading:
    """The reader's verdict on one pair: the probability that the sentence answers, and the
    answer's span as character offsets into the sentence (None when it finds none)."""

    probability: float
    span: tuple[int, int] | None


def pair_texts(item: ReaderInput) -> tuple[str, str, int]:
    """The two texts the reader encodes, and where the sentence starts in the second: the
    same for training and for answering, so the model sees what it was trained on."""
    first = f"{item.question} | {item.previous}" if item.previous else item.question
    prefix = f"{item.heading} | " if item.heading else ""
    second = prefix + item.sentence + (f" | {item.before}" if item.before else "")
    return first, second, len(prefix)


def encode_pairs(tokenizer: Any, items: list[ReaderInput], max_length: int) -> dict[str, Any]:
    """Token ids, masks and types of `items` (padded to the longest), and per item the
    token range of its sentence with each token's character offsets in the sentence."""
    import numpy as np

    # Longest first: the sentence side (heading, sentence, the sentence before) is cut from
    # its end, unless a question longer than it must give way too (cutting only the second
    # text fails outright when the question alone is over max_length).
    tokenizer.enable_truncation(max_length, strategy="longest_first")
    tokenizer.enable_padding()
    texts = [pair_texts(item) for item in items]
    encodings = tokenizer.encode_batch([(a, b) for a, b, _ in texts])
    spans = []
    for (_, _, start), item, enc in zip(texts, items, encodings, strict=True):
        end = start + len(item.sentence)
        tokens = [
            (i, s - start, e - start)
            for i, (seq, (s, e)) in enumerate(zip(enc.sequence_ids, enc.offsets, strict=True))
            if seq == 1 and s >= start and e <= end and e > s
        ]
        spans.append(tokens)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        "sentence_tokens": spans,
    }


def best_span(
    start_logits: Any, end_logits: Any, tokens: list[tuple[int, int, int]]
) -> tuple[int, int] | None:
    """The highest-scoring span (start token ≤ end token, at most MAX_SPAN_TOKENS) within the
    sentence's tokens, as character offsets into the sentence."""
    best, chosen = -float("inf"), None
    for a, (i, s, _) in enumerate(tokens):
        for j, _, e in tokens[a : a + MAX_SPAN_TOKENS]:
            score = float(start_logits[i] + end_logits[j])
            if score > best:
                best, chosen = score, (s, e)
    return chosen


class Reader:
    """The reader's ONNX model over a folder holding READER_FILES."""

    def __init__(self, folder: Path, threads: int = 2):
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.config = json.loads((self.folder / "reader.json").read_text(encoding="utf-8"))
        self.max_length = int(self.config.get("max_length", 96))
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(self.folder / "reader.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.selector = _selector(self.config, self.folder)

    @property
    def threshold(self) -> float:
        """The probability an answer needs, chosen on dev when the reader was trained: its
        selector's when it has one, else the reader's own."""
        if self.selector is not None:
            return self.selector.threshold
        return float(self.config.get("threshold", 0.5))

    def read(self, items: list[ReaderInput]) -> list[Reading]:
        import numpy as np

        if not items:
            return []
        batch = encode_pairs(self.tokenizer, items, self.max_length)
        feed = {k: v for k, v in batch.items() if k in self.inputs}
        answer, starts, ends = self.session.run(None, feed)
        chances = 1.0 / (1.0 + np.exp(-answer.reshape(-1)))
        return [
            Reading(float(p), best_span(starts[n], ends[n], batch["sentence_tokens"][n]))
            for n, p in enumerate(chances)
        ]


def _selector(config: dict, folder: Path) -> Selector | None:
    """The reader's own selector (reader.json's "selector"), if it was fitted: it weighs the
    reader's probability with what retrieval knows of each sentence (answering.read)."""
    from bot.core.answering.selector import FEATURES, READER_FEATURES, Selector

    data = config.get("selector")
    if data is None:
        return None
    return Selector.from_dict(data, str(folder / "reader.json"), FEATURES + READER_FEATURES)
