"""The answer selector: a model learned from the QA corpus (`qabot train`) that reads what
the retrieval knows about each candidate sentence and gives the probability that it answers;
when it rates no candidate high enough, the answer is "The document doesn't say."

Its weights are fitted on the train split, not set by hand:
the sentence's and its passage's similarity to the question, how much of the question's
wording the sentence and its heading cover, BM25, ranks, the gap to the best candidate,
whether the sentence supplies the kind of thing asked for (a number, a date) and whether its
passage names what a "which X" question is about. A logistic model over those features:
small (a JSON file), fast (microseconds), and its probability is calibrated, so abstention
is one threshold on it, chosen on the dev split.

A cross-encoder fine-tuned from MiniLM was tried first: on this CPU, within a training budget
of minutes, it stayed at chance; docs/reader.md has the cross-encoder trained since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

# What the selector reads about a candidate; answering.features computes them, in this order.
FEATURES = (
    "sentence_similarity",
    "passage_similarity",
    "coverage",
    "heading_coverage",
    "bm25",
    "passage_rank",
    "sentence_rank",
    "gap_to_best",
    "kind_asked",
    "kind_supplied",
    "focus_asked",
    "focus_named",
    "follow_up",
    "first_in_passage",
    "sentence_words",
)
# What a reader's own selector reads besides FEATURES (answering.read.stacked_features): the
# reader's log-odds that the sentence answers, their gap to the best sentence's, and whether
# it is the reader's first choice. Fitted on dev, which the reader was not trained on.
READER_FEATURES = ("reader_logit", "reader_gap", "reader_first")


@dataclass(frozen=True)
class Selector:
    """A fitted logistic model: probability = sigmoid(bias + weights · standardised x)."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float  # the probability an answer needs: chosen on the dev split
    features: tuple[str, ...] = FEATURES

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def as_dict(self) -> dict:
        """The selector as JSON data (what to_json writes, from_dict reads)."""
        return {
            "features": list(self.features),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "mean": [round(m, 6) for m in self.mean],
            "scale": [round(s, 6) for s in self.scale],
            "threshold": self.threshold,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path, features: tuple[str, ...] = FEATURES) -> Selector:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no answer selector at {path}") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not an answer selector ({exc})") from None
        return cls.from_dict(data, str(path), features)

    @classmethod
    def from_dict(cls, data: dict, where: str, features: tuple[str, ...] = FEATURES) -> Selector:
        """The selector `data` describes (as to_json writes it), reading `features`."""
        try:
            selector = cls(
                weights=tuple(float(w) for w in data["weights"]),
                bias=float(data["bias"]),
                mean=tuple(float(m) for m in data["mean"]),
                scale=tuple(float(s) for s in data["scale"]),
                threshold=float(data["threshold"]),
                features=tuple(data["features"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{where} is not an answer selector ({exc})") from None
        sizes = {len(selector.weights), len(selector.mean), len(selector.scale)}
        if selector.features != features or sizes != {len(features)}:
            raise ConfigError(
                f"the answer selector {where} reads other features than this qabot computes; "
                "train it again: qabot train"
            )
        return selector


def fit(
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 1.0,
    rounds: int = 50,
    features: tuple[str, ...] = FEATURES,
) -> Selector:
    """L2-regularised logistic regression by Newton's method (a 15-weight model needs no
    library); the threshold is left at 0.5 for the caller to choose."""
    import numpy as np

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(rounds):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Selector(
        weights=tuple(float(v) for v in w[:-1]),
        bias=float(w[-1]),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        threshold=0.5,
        features=features,
    )
