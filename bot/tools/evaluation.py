"""Measuring answer quality on a QA set, through the same `QAService.ask` every front end uses.

Each answer is judged against the set's accepted answers and evidence (`judge`), and the
outcomes summed up in a `Report`: recall of the evidence, answers hit, citations right,
abstention. The QA set itself, its file and its checks, is `bot.tools.qaset`'s.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.types import Answer, Turn, normalize_space
from bot.tools.qaset import Item, QASet, fold

if TYPE_CHECKING:
    from bot.service import QAService

RECALL_AT = (1, 3, 5)


@dataclass
class Outcome:
    item: Item
    answer: Answer
    evidence_rank: int | None  # 1-based rank of the first retrieved passage with the evidence
    hit: bool  # an accepted answer is in the answer text
    cited: bool  # a cited passage contains the evidence
    turn: int = 0  # 0 for single questions, 2+ for later turns of a conversation

    @property
    def correct(self) -> bool:
        if not self.item.answerable:
            return self.answer.abstained
        return not self.answer.abstained and self.hit and self.cited

    @property
    def verdict(self) -> str:
        """What went wrong, in a few words (or "right")."""
        if self.correct:
            return "right"
        if not self.item.answerable:
            return "answered, but the document doesn't say"
        if self.answer.abstained:
            return "abstained, but the document says"
        if not self.cited:
            return "cited the wrong passage"
        return "right passage, answer not in the quoted sentences"

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.item.question,
            "turn": self.turn or None,
            "verdict": self.verdict,
            "evidence_rank": self.evidence_rank,
            "expected": list(self.item.answers),
            "answer": self.answer.text,
            "reason": self.answer.reason,
        }


@dataclass
class Report:
    qa_set: QASet
    outcomes: list[Outcome] = field(default_factory=list)

    def metrics(self) -> dict[str, float | int]:
        single = [o for o in self.outcomes if o.turn == 0 and o.item.answerable]
        unanswerable = [o for o in self.outcomes if not o.item.answerable]
        answered = [o for o in single if not o.answer.abstained]
        follow_ups = [o for o in self.outcomes if o.turn >= 2]
        ranks = [o.evidence_rank for o in single]
        latencies = sorted(o.answer.timings_ms["total"] for o in self.outcomes)

        def share(part: int, whole: int) -> float:
            return round(part / whole, 4) if whole else 0.0

        out: dict[str, float | int] = {"answerable": len(single)}
        for k in RECALL_AT:
            out[f"recall@{k}"] = share(sum(1 for r in ranks if r and r <= k), len(ranks))
        out["mrr"] = round(statistics.fmean(1 / r if r else 0 for r in ranks), 4) if ranks else 0.0
        out["answer_hit"] = share(
            sum(o.hit and not o.answer.abstained for o in single), len(single)
        )
        # The reader marks the answer inside the quoted sentence: does the mark hold one?
        out["span_hit"] = share(
            sum(
                o.answer.span is not None and contains_answer(o.answer.span.text, o.item.answers)
                for o in answered
            ),
            len(single),
        )
        out["citation_precision"] = share(sum(o.cited for o in answered), len(answered))
        out["false_abstention"] = share(len(single) - len(answered), len(single))
        out["unanswerable"] = len(unanswerable)
        out["abstention"] = share(sum(o.answer.abstained for o in unanswerable), len(unanswerable))
        out["follow_ups"] = len(follow_ups)
        out["follow_up_accuracy"] = share(sum(o.correct for o in follow_ups), len(follow_ups))
        if latencies:
            out["latency_p50_ms"] = round(statistics.median(latencies), 2)
            out["latency_p95_ms"] = round(
                latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2
            )
        return out

    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]

    def to_dict(self) -> dict[str, Any]:
        return {
            "qa_set": str(self.qa_set.path),
            "document": str(self.qa_set.document),
            "metrics": self.metrics(),
            "misses": [miss.to_dict() for miss in self.misses()],
        }


def contains_evidence(passage: str, evidence: tuple[str, ...]) -> bool:
    """Whether a passage (as a citation quotes it) holds one of the evidence texts."""
    folded = fold(normalize_space(passage))
    return any(fold(e) in folded for e in evidence)


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    """Whether a text holds one of the accepted answers."""
    folded = fold(text)
    return any(fold(a) in folded for a in answers)


def judge(passages: dict[str, str], item: Item, answer: Answer, turn: int = 0) -> Outcome:
    """Score one answer; `passages` maps chunk ids to their text."""
    rank = None
    if item.answerable:
        for i, got in enumerate(answer.retrieved, start=1):
            if contains_evidence(passages[got.chunk_id], item.evidence):
                rank = i
                break
    hit = item.answerable and contains_answer(answer.text, item.answers)
    cited = item.answerable and any(
        contains_evidence(c.text, item.evidence) for c in answer.citations
    )
    return Outcome(item, answer, rank, hit, cited, turn)


def evaluate(service: QAService, qa_set: QASet, top_k: int | None = None) -> Report:
    report = Report(qa_set)
    passages = service.passages
    depth = max(top_k or service.answer_settings.top_k, max(RECALL_AT))
    for item in qa_set.questions:
        answer = service.ask(item.question, (), top_k=depth)
        report.outcomes.append(judge(passages, item, answer))
    for conversation in qa_set.conversations:
        history: list[Turn] = []
        for number, item in enumerate(conversation, start=1):
            answer = service.ask(item.question, history, top_k=depth)
            history.append(Turn(item.question, answer))
            if number >= 2:
                report.outcomes.append(judge(passages, item, answer, turn=number))
    return report


# The pipeline built up one step at a time, from plain dense top-k retrieval answered with
# the sentence closest to the question; each step keeps the ones before it.
STEPS: tuple[tuple[str, dict[str, object]], ...] = (
    (
        "dense top-k (baseline)",
        dict(
            retrieval="dense",
            answer_depth=0,
            w_sentence=1.0,
            w_passage=0.0,
            w_coverage=0.0,
            answer_checks=False,
            history_turns=0,
        ),
    ),
    ("+ hybrid: BM25 fused by RRF", dict(retrieval="hybrid")),
    (
        "+ sentence scoring over 15 passages",
        dict(answer_depth=15, w_sentence=0.5, w_passage=0.25, w_coverage=0.25),
    ),
    ("+ answer-kind and focus checks", dict(answer_checks=True)),
    ("+ follow-up context", dict(history_turns=3)),
)


def evaluate_steps(
    service: QAService, qa_set: QASet, top_k: int | None = None
) -> list[tuple[str, Report]]:
    """One report per step of STEPS, each at the engine's own threshold."""
    out = []
    changes: dict[str, object] = {}
    for name, step in STEPS:
        changes.update(step)
        with service.answering_with(**changes):
            out.append((name, evaluate(service, qa_set, top_k)))
    return out


def sweep(
    service: QAService, qa_set: QASet, thresholds: Iterable[float], top_k: int | None = None
) -> list[tuple[float, Report]]:
    """The trade-off between abstaining on unanswerable questions and on answerable ones."""
    out = []
    for threshold in thresholds:
        with service.answering_with(abstain_threshold=threshold):
            out.append((threshold, evaluate(service, qa_set, top_k)))
    return out
