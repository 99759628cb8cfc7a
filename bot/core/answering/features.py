"""What the answer selector reads about each candidate sentence (selector.FEATURES),
computed from what retrieval and question analysis already know: no extra model pass."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bot.core.answering.questions import supplies
from bot.core.index.lexical import terms, words

if TYPE_CHECKING:
    import numpy as np

    from bot.core.answering.retrieval import Candidate, Hit, Retriever
    from bot.core.types import Expectation


def candidate_features(
    retriever: Retriever,
    top: list[Candidate],
    hits: list[Hit],
    query_terms: list[str],
    expected: Expectation,
    follow_up: bool,
) -> np.ndarray:
    """One row per candidate of `top` (best first by similarity score), in FEATURES order."""
    import numpy as np

    index, lexical = retriever.index, retriever.lexical
    bm25 = {h.row: h.lexical for h in hits}
    most = max(bm25.values(), default=0.0) or 1.0
    focus = set(terms(" ".join(expected.focus)))
    best = top[0].score if top else 0.0
    rows = []
    for i, c in enumerate(top):
        chunk = index.chunks[c.row]
        sentence = index.sentence_text(c.row, c.k)
        rows.append(
            [
                c.sentence_score,
                c.passage_score,
                c.coverage,
                lexical.coverage(query_terms, terms(chunk.heading)),
                bm25.get(c.row, 0.0) / most,
                1.0 / (1 + c.rank),
                1.0 / (1 + i),
                c.score - best,
                float(expected.kind is not None),
                float(expected.kind is not None and supplies(expected.kind, sentence)),
                float(bool(focus)),
                float(bool(focus & retriever.passage_terms(c.row))),
                float(follow_up),
                float(c.k == 0),
                math.log1p(len(words(sentence))),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), 15)
