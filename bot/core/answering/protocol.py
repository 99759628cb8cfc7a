"""What the two ways of answering, `read` (with the reader) and `rules` (without one), call
back on the engine (`engine.QAEngine`, which calls them): named here, once, so that neither
imports the engine that imports them, and the engine is checked against one list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from bot.core.answering.reader import Reader
    from bot.core.answering.retrieval import Candidate, Hit, Retriever
    from bot.core.answering.selector import Selector
    from bot.core.index.embedding import Embedder
    from bot.core.index.passages import Index
    from bot.core.settings import AnswerSettings
    from bot.core.types import Retrieved, Turn


class Engine(Protocol):
    index: Index
    embedder: Embedder
    settings: AnswerSettings
    retriever: Retriever
    reader: Reader | None
    selector: Selector | None  # the older answer selector (rules only)

    @property
    def selector_threshold(self) -> float: ...

    def search(
        self,
        question: str,
        history: Sequence[Turn],
        top_k: int | None,
        within: range | None = None,
        always_context: bool = False,
    ) -> tuple[str, str, list[Hit], list[Candidate], dict[str, float]]: ...

    def threshold_for(self, passages: int) -> float: ...

    def features(
        self, question: str, query: str, hits: list[Hit], top: list[Candidate]
    ) -> np.ndarray: ...

    def top_features(
        self,
        question: str,
        query: str,
        hits: list[Hit],
        candidates: list[Candidate],
        depth: int | None = None,
    ) -> tuple[list[Candidate], np.ndarray]: ...

    def same_meaning(self, a: Candidate, b: Candidate) -> bool: ...

    def retrieved(
        self, hits: list[Hit], candidates: list[Candidate], top_k: int | None
    ) -> tuple[Retrieved, ...]: ...
