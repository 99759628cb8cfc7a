"""Finding the passages and sentences that may answer: dense and BM25 rankings fused by
reciprocal rank, then every sentence of the best passages scored against the question."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.index import vectors as vector_index
from bot.core.index.lexical import BM25_FILES, LexicalIndex, terms
from bot.core.settings import AnswerSettings

if TYPE_CHECKING:
    import numpy as np

    from bot.core.index.passages import Index


class Retriever:
    """Search over one loaded index; caches what is computed per passage (BM25, terms)."""

    def __init__(self, index: Index):
        self.index = index
        self._terms_cache: dict[int, list[set[str]]] = {}

    @functools.cached_property
    def lexical(self) -> LexicalIndex:
        saved = self.index.directory / self.index.manifest.data_dir
        if (saved / BM25_FILES["params_name"]).is_file():
            try:
                return LexicalIndex.load(saved, len(self.index.chunks))
            except (OSError, ValueError, KeyError):
                pass  # damaged: built again below, as for an index from before it was saved
        return LexicalIndex.build([c.embed_text for c in self.index.chunks])

    def retrieve(
        self,
        vector: np.ndarray,
        query_terms: list[str],
        k: int,
        settings: AnswerSettings,
        within: range | None = None,
    ) -> list[Hit]:
        """The k best passages (of the rows `within`, when given): dense ranking alone, or
        fused with BM25 by reciprocal rank."""
        import numpy as np

        n = len(within) if within is not None else len(self.index.chunks)
        k = min(k, n)
        depth = k if settings.retrieval == "dense" else min(n, max(4 * k, 20))
        scores, rows = vector_index.search(self.index.vectors, vector, depth, within)
        dense = {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}
        if settings.retrieval == "dense":
            return [Hit(row, score, score, 0.0) for row, score in dense.items()]

        bm25 = self.lexical.scores(query_terms, within)
        lexical_rows = [int(r) for r in np.argsort(-bm25)[:depth] if bm25[r] > 0]
        fused: dict[int, float] = {}
        for ranking in (list(dense), lexical_rows):
            for rank, row in enumerate(ranking):
                fused[row] = fused.get(row, 0.0) + 1.0 / (settings.rrf_k + rank + 1)
        top = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        hits = []
        for row in top:
            score = dense.get(row)
            if score is None:
                score = float(self.index.passage_vectors[row] @ vector[0])
            hits.append(Hit(row, fused[row], score, float(bm25[row])))
        return hits

    def sentence_terms(self, row: int) -> list[set[str]]:
        cached = self._terms_cache.get(row)
        if cached is None:
            chunk = self.index.chunks[row]
            heading = set(terms(chunk.heading))
            cached = [
                set(terms(self.index.sentence_text(row, k))) | heading
                for k in range(len(chunk.sentences))
            ]
            self._terms_cache[row] = cached
        return cached

    def score_sentences(
        self,
        query: np.ndarray,
        hits: list[Hit],
        query_terms: list[str],
        settings: AnswerSettings,
    ) -> list[Candidate]:
        s = settings
        candidates = []
        for rank, hit in enumerate(hits):
            rows = self.index.chunks.sentence_rows(hit.row)
            sims = self.index.sentence_vectors[rows.start : rows.stop] @ query
            sentence_terms = self.sentence_terms(hit.row)
            for k, sim in enumerate(sims):
                coverage = self.lexical.coverage(query_terms, sentence_terms[k])
                score = (
                    s.w_sentence * float(sim) + s.w_passage * hit.dense + s.w_coverage * coverage
                )
                candidates.append(
                    Candidate(hit.row, k, rank, hit.dense, float(sim), coverage, score)
                )
        return candidates

    def passage_terms(self, row: int) -> set[str]:
        return set().union(*self.sentence_terms(row))


@dataclass(frozen=True)
class Hit:
    row: int  # chunk row in the index
    fused: float  # the ranking score (the dense score in dense mode)
    dense: float
    lexical: float


@dataclass(frozen=True)
class Candidate:
    row: int  # chunk row in the index
    k: int  # sentence number inside the chunk
    rank: int
    passage_score: float
    sentence_score: float
    coverage: float
    score: float
