"""Answering without a reader (`reader: none`): the rules, and the older answer selector.

Retrieval ranks sentences by similarity. A sentence can answer when it gives the kind of thing
the question asks for (an age, a day, a number) and, when the question is about something
("which world leader"), when its passage names that or a word close to it. The best of them
answers if it scores over the threshold, else the bot abstains and says why; the answer
selector, when there is one, may still say that none answers. The answer quotes the best
sentence and those within `margin` of it that do not say the same thing again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.answering.compose import ABSTAIN_TEXT, compose
from bot.core.answering.questions import expectation, supplies
from bot.core.index.lexical import terms, words
from bot.core.types import NO_EXPECTATION, Answer, Expectation, Turn

if TYPE_CHECKING:
    from bot.core.answering.protocol import Engine
    from bot.core.answering.retrieval import Candidate, Hit
    from bot.core.settings import AnswerSettings


_KIND_WORDS = {
    None: "anything",
    "age": "an age",
    "weekday": "a day",
    "duration": "a length of time",
    "date": "a time",
    "year": "a year",
    "number": "a number",
}


def rules_answer(
    engine: Engine,
    question: str,
    history: Sequence[Turn] = (),
    top_k: int | None = None,
    document: str | None = None,
) -> Answer:
    """Answer `question` by the rules, from one document's passages when `document` names one."""
    started = time.perf_counter()
    within = engine.index.rows_of(document) if document else None
    question, query, hits, candidates, timings = engine.search(question, history, top_k, within)
    searched = time.perf_counter()
    threshold = engine.threshold_for(len(within) if within else len(engine.index.chunks))
    expected = expectation(question) if engine.settings.answer_checks else NO_EXPECTATION
    eligible, unsupported = _eligible(engine, expected, candidates, threshold)
    best = max(eligible, key=lambda c: c.score, default=None)
    abstained, reason = _verdict(
        engine.settings, expected, candidates, best, unsupported, threshold
    )
    if engine.selector is not None and not abstained:
        # Similarity chooses the sentences; the selector may still say none answers.
        chance = _answer_probability(engine, question, query, hits, candidates)
        if chance < engine.selector_threshold:
            abstained = True
            reason = (
                f"the answer selector gives the best candidate a probability of "
                f"{chance:.2f} of answering, under its threshold "
                f"{engine.selector_threshold:.2f}"
            )
    if abstained:
        text, citations = ABSTAIN_TEXT, ()
    else:
        text, citations = compose(engine.index, _select(engine, eligible, best.score, threshold))
    done = time.perf_counter()
    return Answer(
        question=question,
        text=text,
        citations=citations,
        abstained=abstained,
        timings_ms={
            **timings,
            "select": (done - searched) * 1000,
            "total": (done - started) * 1000,
        },
        query=query,
        expected=expected,
        score=best.score if best else 0.0,
        threshold=threshold,
        reason=reason,
        retrieved=engine.retrieved(hits, candidates, top_k),
    )


def _answer_probability(
    engine: Engine, question: str, query: str, hits: list[Hit], candidates: list[Candidate]
) -> float:
    """The selector's probability that the best of the candidates answers."""
    assert engine.selector is not None
    top, x = engine.top_features(question, query, hits, candidates)
    return float(engine.selector.probabilities(x).max()) if top else 0.0


def _eligible(
    engine: Engine, expected: Expectation, candidates: list[Candidate], threshold: float
) -> tuple[list[Candidate], _Support | None]:
    """The sentences that can answer: those giving the kind of thing asked for and, if
    any passage over the threshold names the question's focus, those of such passages.
    Also, when none does, the passage word that came nearest (for the verdict)."""
    eligible = [
        c for c in candidates if supplies(expected.kind, engine.index.sentence_text(c.row, c.k))
    ]
    if not expected.focus:
        return eligible, None
    over = sorted(
        (c for c in eligible if c.score >= threshold),
        key=lambda c: c.score,
        reverse=True,
    )
    rows = list(dict.fromkeys(c.row for c in over))
    focus_terms = set(terms(" ".join(expected.focus)))
    naming = {row for row in rows if focus_terms & engine.retriever.passage_terms(row)}
    nearest = _Support(0.0, "")
    if not naming:
        # Word similarity costs an encoding of the passage's words: only the best few.
        for row in rows[: engine.settings.focus_passages]:
            support = _focus_support(engine, expected.focus, row)
            nearest = max(nearest, support)
            if support.similarity >= engine.settings.focus_similarity:
                naming.add(row)
    if naming:
        return [c for c in over if c.row in naming], None
    return eligible, nearest


def _verdict(
    settings: AnswerSettings,
    expected: Expectation,
    candidates: list[Candidate],
    best: Candidate | None,
    unsupported: _Support | None,
    threshold: float,
) -> tuple[bool, str]:
    """Whether to abstain, and why, in words for `--explain`."""
    top = max((c.score for c in candidates), default=None)
    if top is None:
        return True, "nothing was retrieved"
    if top < threshold:
        return True, f"the best sentence scores {top:.2f}, under the threshold {threshold:.2f}"
    if best is None or best.score < threshold:
        return True, (
            f"the question asks for {_KIND_WORDS[expected.kind]}, and no sentence that "
            f"scores over the threshold gives one"
        )
    if unsupported is not None and best.score < settings.confident_score:
        focus = " ".join(expected.focus)
        return True, (
            f"the question is about '{focus}', which no passage scoring over the "
            f"threshold mentions (nearest word '{unsupported.word}', similarity "
            f"{unsupported.similarity:.2f}), and the best sentence scores only "
            f"{best.score:.2f}"
        )
    kind = f", and it gives {_KIND_WORDS[expected.kind]}" if expected.kind else ""
    return False, f"the best sentence scores {best.score:.2f} (threshold {threshold:.2f}){kind}"


def _focus_support(engine: Engine, focus: tuple[str, ...], row: int) -> _Support:
    """The passage word most similar to one of the focus words."""
    chunk = engine.index.chunks[row]
    passage_words = sorted(set(words(chunk.heading)) | set(words(chunk.text)))
    if not passage_words:
        return _Support(0.0, "")
    vectors = engine.embedder.encode_words([*focus, *passage_words])
    sims = vectors[len(focus) :] @ vectors[: len(focus)].T
    best = int(sims.max(axis=1).argmax())
    return _Support(float(sims[best].max()), passage_words[best])


def _select(
    engine: Engine, candidates: list[Candidate], best: float, threshold: float
) -> list[Candidate]:
    """The sentences the answer quotes: the best, and those within `margin` of it that do not
    say what one already chosen says."""
    floor = max(threshold, best - engine.settings.margin)
    chosen: list[Candidate] = []
    for cand in sorted(candidates, key=lambda c: c.score, reverse=True):
        if cand.score < floor or len(chosen) >= engine.settings.max_sentences:
            break
        if any(engine.same_meaning(cand, other) for other in chosen):
            continue
        chosen.append(cand)
    return chosen


@dataclass(frozen=True, order=True)
class _Support:
    similarity: float  # 1.0 when the passage has the word itself
    word: str
