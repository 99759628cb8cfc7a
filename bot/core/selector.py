"""The answer selector: a cross-encoder that reads a question and one candidate sentence (with
its section heading) and gives the probability that the sentence answers the question.

Similarity ranks sentences that are about the right thing; the selector is trained to tell
the one that answers from its on-topic neighbours, and its probability decides abstention.
It is fine-tuned here from the bundled MiniLM weights (`qabot train`). The shipped weights
leave out the word-embedding matrix, which training keeps frozen: it is loaded from the
bundled MiniLM package, so the selector ships at about half the size.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from bot.core.types import Chunk

WEIGHTS = "model.safetensors"
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
MAX_LENGTH = 96  # word pieces of question + heading + sentence; longer pairs are truncated
BATCH = 32


def context_text(chunk: Chunk, k: int) -> str:
    """What the selector reads as a candidate: the sentence, after its section heading."""
    sentence = chunk.sentence_text(k)
    return f"{chunk.heading} › {sentence}" if chunk.heading else sentence


class Selector:
    """A loaded selector; thread-safe for `probabilities`."""

    def __init__(self, path: Path, base_model: str):
        self.path = Path(path)
        self.base_model = base_model  # the MiniLM folder its word embeddings come from
        if not (self.path / WEIGHTS).is_file():
            raise ConfigError(f"no answer selector in {self.path} ({WEIGHTS} is missing)")

    @functools.cached_property
    def _model(self) -> tuple[Any, Any]:
        return load(self.path, self.base_model)

    def probabilities(self, question: str, candidates: Sequence[str]) -> np.ndarray:
        """For each candidate text, the probability that it answers the question."""
        import numpy as np
        import torch

        model, tokenizer = self._model
        out = []
        for begin in range(0, len(candidates), BATCH):
            batch = list(candidates[begin : begin + BATCH])
            encoded = tokenizer(
                [question] * len(batch),
                batch,
                truncation="only_second",
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            with torch.inference_mode():
                logits = model(**encoded).logits[:, 0]
            out.append(torch.sigmoid(logits.float()).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def load(path: Path, base_model: str) -> tuple[Any, Any]:
    """The selector's model and tokenizer: its own weights, the base model's word embeddings."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    config = AutoConfig.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_config(config)
    state = {k: v.float() for k, v in load_file(str(Path(path) / WEIGHTS)).items()}
    if WORD_EMBEDDINGS not in state:
        base = load_file(str(Path(base_model) / "model.safetensors"))
        state[WORD_EMBEDDINGS] = base[WORD_EMBEDDINGS.removeprefix("bert.")].float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    wanted_missing = [m for m in missing if not m.endswith("position_ids")]
    if wanted_missing or unexpected:
        raise ConfigError(f"the answer selector in {path} does not match its config")
    model.eval()
    return model, AutoTokenizer.from_pretrained(path)
