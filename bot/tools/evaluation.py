"""Measuring answer quality on a QA set, through the same `QAService.ask` every front end uses.

A QA set is a YAML file (format in docs/quality.md): a document, answerable questions with
accepted answers and the evidence text that settles them, unanswerable questions, and
multi-turn conversations.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.errors import ConfigError
from bot.core.types import Answer, Turn, normalize_space

if TYPE_CHECKING:
    from bot.service import QAService

RECALL_AT = (1, 3, 5)


@dataclass(frozen=True)
class Item:
    question: str
    answerable: bool
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class QASet:
    path: Path
    document: Path
    questions: tuple[Item, ...]
    conversations: tuple[tuple[Item, ...], ...]

    @property
    def summary(self) -> str:
        unanswerable = sum(not q.answerable for q in self.questions)
        return (
            f"{len(self.questions) - unanswerable} answerable, {unanswerable} unanswerable, "
            f"{len(self.conversations)} conversations"
        )


def fold(text: str) -> str:
    """Compare case-, punctuation- and quote-insensitively."""
    text = text.replace("’", "'").replace("‘", "'").lower()
    return " ".join(re.sub(r"[^\w\s$%']", " ", text).split())


def _item(raw: Any, answerable: bool, where: str) -> Item:
    if not isinstance(raw, dict) or not isinstance(raw.get("q"), str):
        raise ConfigError(f"{where}: each question needs a 'q' text")
    question = raw["q"]
    answers = _texts(raw.get("answers"), "answers", question, where)
    evidence = _texts(raw.get("evidence"), "evidence", question, where)
    answerable = raw.get("answerable", answerable)
    if not isinstance(answerable, bool):
        raise ConfigError(f"{where}: {question!r}: 'answerable' is true or false")
    if answerable and not (answers and evidence):
        raise ConfigError(f"{where}: {question!r} needs 'answers' and 'evidence'")
    return Item(question, answerable, answers, evidence)


def _texts(value: Any, field: str, question: str, where: str) -> tuple[str, ...]:
    """A question's 'answers' or 'evidence': one text or a list of texts (none: empty)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{where}: {question!r}: '{field}' is a text or a list of texts, not {_kind(value)}"
    )


def _list(value: Any, field: str, where: str) -> list[Any]:
    """A list the QA set holds under `field` (absent or empty: none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where}: '{field}' is a list, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    """What a YAML value is, in a message's words."""
    names = {bool: "true/false", int: "a number", float: "a number", str: "a text"}
    names |= {dict: "a mapping", list: "a list"}
    return names.get(type(value), type(value).__name__)


def load_qa_set(path: Path) -> QASet:
    """A QA set from its YAML file; ConfigError (one line naming the file and the field)
    when it cannot be read or a field holds the wrong kind of value."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML QA set ({type(exc).__name__})") from None
    if not isinstance(data, dict) or "document" not in data:
        raise ConfigError(f"{path}: a QA set is a mapping with a 'document' key")
    where = str(path)
    if not isinstance(data["document"], str):
        raise ConfigError(f"{where}: 'document' is a file name, not {_kind(data['document'])}")
    if not data["document"].strip():
        raise ConfigError(f"{where}: 'document' is empty; it names the document's file")
    document = (Path(path).parent / data["document"]).resolve()
    questions = [_item(q, True, where) for q in _list(data.get("questions"), "questions", where)]
    unanswerable = _list(data.get("unanswerable"), "unanswerable", where)
    questions += [_item(q, False, where) for q in unanswerable]
    conversations = []
    for conv in _list(data.get("conversations"), "conversations", where):
        if not isinstance(conv, dict):
            raise ConfigError(f"{where}: each conversation is a mapping with 'turns'")
        turns = _list(conv.get("turns"), "turns", where)
        conversations.append(tuple(_item(t, True, where) for t in turns))
    return QASet(Path(path), document, tuple(questions), tuple(conversations))


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


def check_qa_set(qa_set: QASet) -> list[str]:
    """What is wrong with a QA set, without running the bot: evidence or answers that are not
    in the document, too few unanswerable questions, conversations of one turn."""
    text = fold(qa_set.document.read_text(encoding="utf-8-sig"))
    problems = []
    answerable = [i for i in qa_set.questions if i.answerable]
    for conversation in qa_set.conversations:
        if len(conversation) < 2:
            problems.append(f"conversation {conversation[0].question!r} has one turn only")
        answerable += list(conversation)
    for item in answerable:
        if not any(fold(e) in text for e in item.evidence):
            problems.append(f"{item.question!r}: no evidence text occurs in the document")
        if not any(fold(a) in text for a in item.answers):
            problems.append(f"{item.question!r}: no accepted answer occurs in the document")
    unanswerable = sum(not i.answerable for i in qa_set.questions)
    if unanswerable < 0.2 * len(qa_set.questions):
        problems.append(
            f"{unanswerable} unanswerable of {len(qa_set.questions)} questions (under 20%)"
        )
    return problems


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
