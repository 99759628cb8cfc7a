"""Answering a question from the index: retrieve passages, pick sentences, cite, or abstain.

This is the core API every front end calls (`QAEngine.answer`); it imports none of them. The
engine searches (`search`: the question tidied, its context, passages and sentence scores)
and hands the rest to the reader (`answering.read`) or, without one, to the rules
(`answering.rules`), each of which calls back only what `answering.protocol.Engine` names.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.core.answering.compose import describe, rerank
from bot.core.answering.features import candidate_features
from bot.core.answering.questions import contextualize, expectation, tidy
from bot.core.answering.retrieval import Candidate, Hit, Retriever
from bot.core.answering.rules import rules_answer
from bot.core.answering.selector import Selector
from bot.core.errors import QuestionError
from bot.core.index.lexical import terms
from bot.core.settings import AnswerSettings
from bot.core.types import Answer, Retrieved, SentenceCandidate, Turn

if TYPE_CHECKING:
    import numpy as np

    from bot.core.answering.reader import Reader
    from bot.core.index.embedding import Embedder
    from bot.core.index.passages import Index


class QAEngine:
    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        settings: AnswerSettings,
        selector: Selector | None = None,
        reader: Reader | None = None,
    ):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.selector = selector
        self.reader = reader
        self.retriever = Retriever(index)

    def warm_up(self) -> None:
        """Load the models and lexical index now, so the first answer is as fast as the rest.

        The lexical index loads in a thread meanwhile: importing bm25s (and SciPy under it)
        is Python work, building the ONNX sessions is C++ work that lets go of the GIL, so on
        two cores the two overlap and a cold `qabot ask` waits for the longer, not the sum."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="qabot-warm-up") as pool:
            lexical = pool.submit(lambda: self.retriever.lexical)
            self.embedder.encode_query("warm up")
            if self.reader is not None:
                from bot.core.answering.reader import ReaderInput

                warm = ReaderInput("warm up?", "The reader's first run is its slowest.")
                self.reader.read([warm])
            lexical.result()

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        top_k: int | None = None,
        document: str | None = None,
    ) -> Answer:
        """Answer `question`, from one document's passages when `document` names one."""
        if self.reader is not None:
            from bot.core.answering.read import read_answer

            return read_answer(self, question, history, top_k, document)
        return rules_answer(self, question, history, top_k, document)

    def retrieved(
        self, hits: list[Hit], candidates: list[Candidate], top_k: int | None
    ) -> tuple[Retrieved, ...]:
        """The best `top_k` passages found, in the order of their best sentence (--explain)."""
        k = min(top_k or self.settings.top_k, len(self.index.chunks))
        return describe(self.index, rerank(hits, candidates)[:k], candidates)

    def threshold_for(self, passages: int) -> float:
        """The similarity score an answer needs when `passages` passages are searched.

        The more passages, the higher the best of the unrelated ones scores by chance (the
        best of many draws), so beyond the size the threshold was chosen at it rises by
        `abstain_rise` for each tenfold more passages, so that a large index does not answer
        what none of its documents says just because it has more sentences to choose from."""
        s = self.settings
        tenfolds = math.log10(max(passages, s.abstain_calibrated) / s.abstain_calibrated)
        return s.abstain_threshold + s.abstain_rise * tenfolds

    @property
    def selector_threshold(self) -> float:
        """The probability the answer selector must give the best candidate."""
        chosen = self.settings.selector_threshold
        if chosen is None and self.selector is not None:
            return self.selector.threshold
        return chosen if chosen is not None else 0.0

    def candidates(
        self, question: str, history: Sequence[Turn] = (), depth: int | None = None
    ) -> tuple[list[SentenceCandidate], np.ndarray]:
        """The sentences the selector would read for this question (or the best `depth`),
        best first by similarity, and its features for each (to train a selector)."""
        if self.reader is not None:
            # The sentences the reader reads, and the features its selector weighs: the
            # rules' and the reader's own (to fit that selector: `qabot train`).
            from bot.core.answering.read import gather, stacked_features

            g = gather(self, question, history)
            chances = [r.probability for r in g.readings]
            x = stacked_features(self.features(g.question, g.query, g.hits, g.top), chances)
            return [self._sentence_candidate(g.question, c) for c in g.top], x
        question, query, hits, candidates, _ = self.search(question, history, None)
        top, x = self.top_features(question, query, hits, candidates, depth)
        return [self._sentence_candidate(question, c) for c in top], x

    def _sentence_candidate(self, question: str, c: Candidate) -> SentenceCandidate:
        chunk = self.index.chunks[c.row]
        return SentenceCandidate(
            question=question,
            chunk_id=chunk.id,
            sentence=chunk.sentence_text(c.k),
            passage=chunk.text,
            score=c.score,
            heading=chunk.heading,
            before=chunk.sentence_text(c.k - 1) if c.k > 0 else "",
        )

    def search(
        self,
        question: str,
        history: Sequence[Turn],
        top_k: int | None,
        within: range | None = None,
        always_context: bool = False,
    ) -> tuple[str, str, list[Hit], list[Candidate], dict[str, float]]:
        """The question tidied, the query searched, the passages found and every sentence of
        theirs scored by similarity; with the time embedding and searching took. After a
        previous turn the query carries its context if the question reads as a follow-up
        (or `always_context`)."""
        question = " ".join(tidy(question).split())
        if not question:
            raise QuestionError("the question is empty")
        started = time.perf_counter()
        window = history[-self.settings.history_turns :] if self.settings.history_turns else ()
        query = contextualize(question, window, self.settings.history_turns, always_context)
        vector = self.embedder.encode_query(query)
        encoded = time.perf_counter()

        k = min(top_k or self.settings.top_k, len(self.index.chunks))
        query_terms = terms(query)
        # Sentences are scored over more passages than are shown: the sentence score reranks,
        # and a passage ranked low by one retriever may hold the one sentence that answers.
        hits = self.retriever.retrieve(
            vector, query_terms, max(k, self.settings.answer_depth), self.settings, within
        )
        searched = time.perf_counter()

        # A follow-up's own words pick the sentence; its context has already picked passages.
        sentence_query = vector[0]
        if query != question:
            sentence_query = vector[0] + self.embedder.encode_query(question)[0]
            sentence_query /= float((sentence_query**2).sum() ** 0.5)
        candidates = self.retriever.score_sentences(
            sentence_query, hits, query_terms, self.settings
        )
        timings = {"embed": (encoded - started) * 1000, "search": (searched - encoded) * 1000}
        return question, query, hits, candidates, timings

    def top_features(
        self,
        question: str,
        query: str,
        hits: list[Hit],
        candidates: list[Candidate],
        depth: int | None = None,
    ) -> tuple[list[Candidate], np.ndarray]:
        """The best `selector_depth` (or `depth`) sentences by similarity and the selector's
        features of each."""
        top = sorted(candidates, key=lambda c: c.score, reverse=True)
        top = top[: depth or self.settings.selector_depth]
        return top, self.features(question, query, hits, top)

    def features(
        self, question: str, query: str, hits: list[Hit], top: list[Candidate]
    ) -> np.ndarray:
        """The selector's features of each sentence of `top` (answering.features)."""
        return candidate_features(
            self.retriever, top, hits, terms(query), expectation(question), query != question
        )

    def same_meaning(self, a: Candidate, b: Candidate) -> bool:
        va = self.index.sentence_vectors[self.index.chunks.sentence_rows(a.row)[a.k]]
        vb = self.index.sentence_vectors[self.index.chunks.sentence_rows(b.row)[b.k]]
        return float(va @ vb) > self.settings.same_meaning
