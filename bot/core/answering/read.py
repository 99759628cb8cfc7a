"""Answering with the reader: retrieve → read → compose, one way.

Retrieval ranks sentences by similarity; the reader (answering.reader) reads the best few with
the question and decides: the sentence it rates likeliest to answer is the answer, if its
probability reaches the threshold chosen on dev, and a second sentence joins only if the
reader rates it over the threshold too. Otherwise the bot abstains, and the passages found are
offered as the closest, never as an answer. After a previous turn, the sentences found by the
question alone and by the question with that turn's context are both read, with the previous
question beside them: the reader's scores, not a list of pronouns, decide what it refers to.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.answering.compose import ABSTAIN_TEXT, compose
from bot.core.answering.reader import ReaderInput, Reading
from bot.core.types import NO_EXPECTATION, Answer, Span, Turn

if TYPE_CHECKING:
    import numpy as np

    from bot.core.answering.protocol import Engine
    from bot.core.answering.retrieval import Candidate, Hit


MAX_READ_SENTENCES = 2  # the answer and, if the reader says it also answers, one more
# After a previous turn, the sentences of the second search (the question alone) read too.
EXTRA_AFTER_A_TURN = 4


@dataclass
class Gathered:
    """What retrieval found for a question and what the reader read of it."""

    question: str
    query: str
    hits: list[Hit]
    candidates: list[Candidate]
    top: list[Candidate]  # the sentences read, best first by similarity
    readings: list[Reading]
    chances: list[float]  # per sentence of `top`: the probability that it answers
    timings: dict[str, float]


def gather(
    engine: Engine,
    question: str,
    history: Sequence[Turn] = (),
    top_k: int | None = None,
    document: str | None = None,
) -> Gathered:
    """Retrieve, then read the best sentences: the reader's probability of each, weighed by
    the reader's selector with what retrieval knows of them when the reader has one."""
    assert engine.reader is not None
    settings = engine.settings
    within = engine.index.rows_of(document) if document else None
    window = history[-settings.history_turns :] if settings.history_turns else ()
    # After a previous turn, the question is searched with its context and alone, and the
    # reader (given the previous question) decides which sentences answer: no word list.
    question, query, hits, candidates, timings = engine.search(
        question, window, top_k, within, always_context=True
    )
    top = _best(candidates, settings.reader_depth)
    previous = window[-1].question if window else ""
    if previous:
        _, _, more_hits, alone, more = engine.search(question, (), top_k, within)
        timings = {k: timings[k] + more[k] for k in timings}
        seen = {(c.row, c.k) for c in top}
        top += [c for c in _best(alone, EXTRA_AFTER_A_TURN) if (c.row, c.k) not in seen]
        hits += [h for h in more_hits if h.row not in {x.row for x in hits}]
        candidates += alone
    searched = time.perf_counter()
    readings = engine.reader.read([_input(engine, question, previous, c) for c in top])
    chances = [r.probability for r in readings]
    selector = engine.reader.selector
    if selector is not None and top:
        x = stacked_features(engine.features(question, query, hits, top), chances)
        chances = [float(p) for p in selector.probabilities(x)]
    timings["read"] = (time.perf_counter() - searched) * 1000
    return Gathered(question, query, hits, candidates, top, readings, chances, timings)


def stacked_features(rules: np.ndarray, chances: Sequence[float]) -> np.ndarray:
    """The selector's features of each sentence read and the reader's three beside them
    (selector.READER_FEATURES): its log-odds, their gap to the best, whether it is the best."""
    import numpy as np

    p = np.clip(np.asarray(chances, dtype=np.float64), 1e-4, 1 - 1e-4)
    logit = np.log(p / (1 - p))
    first = (np.arange(len(p)) == int(np.argmax(p))).astype(np.float64)
    return np.hstack([rules, np.stack([logit, logit - logit.max(), first], axis=1)])


def read_answer(
    engine: Engine,
    question: str,
    history: Sequence[Turn] = (),
    top_k: int | None = None,
    document: str | None = None,
) -> Answer:
    assert engine.reader is not None
    started = time.perf_counter()
    g = gather(engine, question, history, top_k, document)
    top, readings, chances = g.top, g.readings, g.chances
    threshold = engine.settings.reader_threshold
    if threshold is None:
        threshold = engine.reader.threshold
    order = sorted(range(len(top)), key=lambda i: chances[i], reverse=True)
    best = order[0] if order else None
    chance = chances[best] if best is not None else 0.0
    span, closest = None, ()
    abstained = best is None or chance < threshold
    if abstained:
        text, citations = ABSTAIN_TEXT, ()
        if best is not None:
            closest = tuple(
                dataclasses.replace(c, n=0) for c in compose(engine.index, [top[best]])[1]
            )
        reason = (
            "nothing was retrieved"
            if best is None
            else f"the reader gives the likeliest sentence a probability of {chance:.2f} of "
            f"answering, under the threshold {threshold:.2f}"
        )
    else:
        chosen = _chosen(engine, top, chances, order, threshold)
        text, citations = compose(engine.index, chosen)
        span = _span(engine, top[best], readings[best], text)
        reason = (
            f"the reader gives the answer a probability of {chance:.2f} (threshold {threshold:.2f})"
        )
    return Answer(
        question=g.question,
        text=text,
        citations=citations,
        abstained=abstained,
        timings_ms={**g.timings, "total": (time.perf_counter() - started) * 1000},
        query=g.query,
        expected=NO_EXPECTATION,
        score=top[best].score if best is not None else 0.0,
        threshold=threshold,
        reason=reason,
        retrieved=engine.retrieved(g.hits, g.candidates, top_k),
        span=span,
        probability=chance,
        closest=closest,
    )


def _best(candidates: list[Candidate], depth: int) -> list[Candidate]:
    return sorted(candidates, key=lambda c: c.score, reverse=True)[:depth]


def _input(engine: Engine, question: str, previous: str, c: Candidate) -> ReaderInput:
    chunk = engine.index.chunks[c.row]
    return ReaderInput(
        question=question,
        sentence=chunk.sentence_text(c.k),
        heading=chunk.heading,
        before=chunk.sentence_text(c.k - 1) if c.k > 0 else "",
        previous=previous,
    )


def _chosen(
    engine: Engine,
    top: list[Candidate],
    chances: list[float],
    order: list[int],
    threshold: float,
) -> list[Candidate]:
    """The likeliest sentence, and the next ones the reader also rates over the threshold
    that say something else (up to MAX_READ_SENTENCES and max_sentences)."""
    limit = min(MAX_READ_SENTENCES, engine.settings.max_sentences)
    chosen = [top[order[0]]]
    for i in order[1:]:
        if len(chosen) >= limit or chances[i] < threshold:
            break
        texts = {engine.index.sentence_text(c.row, c.k) for c in chosen}
        if engine.index.sentence_text(top[i].row, top[i].k) in texts:
            continue
        if not any(engine.same_meaning(top[i], other) for other in chosen):
            chosen.append(top[i])
    return chosen


def _span(engine: Engine, c: Candidate, reading: Reading, text: str) -> Span | None:
    """The reader's span as offsets in the document and in the answer's text."""
    if reading.span is None:
        return None
    chunk = engine.index.chunks[c.row]
    sentence = chunk.sentence_text(c.k)
    s, e = reading.span
    words = sentence[s:e].split()
    at = text.find(sentence)
    if not words or at < 0:
        return None
    begin, end = chunk.sentences[c.k]
    raw = chunk.text[begin - chunk.start : end - chunk.start]
    found = re.search(r"\s+".join(re.escape(w) for w in words), raw)
    start, stop = (begin + found.start(), begin + found.end()) if found else (-1, -1)
    return Span(start, stop, sentence[s:e], (at + s, at + e))
