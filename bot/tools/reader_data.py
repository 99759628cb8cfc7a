"""Training pairs for the reader, mined with qabot's own retrieval (`qabot train-reader`).

For every question of a QA set: the sentences retrieval puts before the reader (the best
`depth` by similarity, from the document's own index), each labelled by the QA set (it
answers when its passage holds the evidence and it holds an accepted answer), with the
answer's span inside it. An answerable question whose answer retrieval missed still gets its
gold sentence, found in the index by its evidence. Unanswerable questions give negatives
only: that is what teaches abstaining. Each question also gets a sentence of another document
(an easy negative: a large index is full of them), and some standalone questions are
repeated after an unrelated previous question, so that context that does not matter is read
as not mattering. Deterministic for a seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.types import SentenceCandidate
from bot.tools.corpus import Entry
from bot.tools.evaluation import contains_answer, contains_evidence
from bot.tools.qaset import Item
from bot.tools.train import questions_of

if TYPE_CHECKING:
    from bot.service import QAService

DEPTH = 12  # the sentences mined per question, best first by similarity
NEGATIVES = 4  # the wrong ones of them trained on, best ranked first
VERSION = 1  # of the mining: a change to it mines every set again
UNRELATED_CONTEXT = 0.15  # the share of standalone questions also asked after another one


@dataclass(frozen=True)
class Pair:
    """One training pair: what the reader reads, and what it should say."""

    document: str
    qid: str  # the question's id: pairs of one question stay together
    question: str
    previous: str
    heading: str
    sentence: str
    before: str
    label: int  # 1: the sentence answers the question
    span: tuple[int, int] | None  # the answer's character offsets in the sentence
    source: str  # "retrieved", "gold" (retrieval missed it) or "other-document"
    answerable: bool
    rank: int  # its rank among the retrieved sentences (-1: not retrieved)

    def to_dict(self) -> dict:
        return asdict(self)


def answer_span(sentence: str, answers: tuple[str, ...]) -> tuple[int, int] | None:
    """Where the first accepted answer found occurs in `sentence` (case, punctuation and
    spacing aside, as the QA sets are compared)."""
    for answer in answers:
        words = re.findall(r"\w+", answer)
        if not words:
            continue
        pattern = r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)"
        found = re.search(pattern, sentence, re.IGNORECASE)
        if found:
            return found.start(), found.end()
    return None


def answers(item: Item, candidate: SentenceCandidate) -> bool:
    """Whether the candidate answers: its passage holds the evidence, it an accepted answer."""
    return (
        item.answerable
        and contains_evidence(candidate.passage, item.evidence)
        and contains_answer(candidate.sentence, item.answers)
    )


def gold_sentences(service: QAService, item: Item) -> list[SentenceCandidate]:
    """The index's sentences that answer `item`, found by its evidence, whatever retrieval
    ranks them."""
    index = service.engine.index
    found = []
    for row in range(len(index.chunks)):
        chunk = index.chunks[row]
        if not contains_evidence(chunk.text, item.evidence):
            continue
        for k in range(len(chunk.sentences)):
            candidate = SentenceCandidate(
                question=item.question,
                chunk_id=chunk.id,
                sentence=chunk.sentence_text(k),
                passage=chunk.text,
                score=0.0,
                heading=chunk.heading,
                before=chunk.sentence_text(k - 1) if k else "",
            )
            if answers(item, candidate):
                found.append(candidate)
    return found


def mine_document(
    entry: Entry, service: QAService, depth: int = DEPTH, seed: int = 0
) -> Iterator[Pair]:
    """Every pair of every question of one QA set, from its document's own index."""
    rng = random.Random(f"{seed}:{entry.name}")
    asked = [i.question for i in entry.qa_set.questions]
    for n, (item, history) in enumerate(questions_of(entry, service)):
        previous = history[-1].question if history else ""
        candidates, _ = service.candidates(item.question, history, depth)
        qid = f"{entry.name}#{n}"
        pairs = list(_pairs(item, qid, entry.name, previous, service, candidates))
        yield from pairs
        if not previous and rng.random() < UNRELATED_CONTEXT and len(asked) > 1:
            unrelated = rng.choice([q for q in asked if q != item.question])
            for p in pairs:
                yield Pair(**{**p.to_dict(), "qid": qid + "+", "previous": unrelated})


def mine(
    entries: list[Entry],
    open_for: Callable[[Path], QAService],
    cache: Path,
    depth: int = DEPTH,
    seed: int = 0,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, list[dict]]:
    """The pairs of every QA set, by set name; each set's kept in `cache` under a digest of
    its QA set, its document and the mining settings, so only changed sets are mined again."""
    import hashlib
    import json

    out = {}
    cache.mkdir(parents=True, exist_ok=True)
    for number, entry in enumerate(entries, start=1):
        digest = hashlib.sha256(f"{depth}:{seed}:{VERSION}".encode())
        for path in (entry.qa_set.path, entry.qa_set.document):
            digest.update(Path(path).read_bytes())
        kept = cache / f"{entry.name}-{digest.hexdigest()[:12]}.jsonl"
        if not kept.exists():
            log(f"mining [{number}/{len(entries)}] {entry.name}")
            service = open_for(entry.qa_set.document)
            lines = [json.dumps(p.to_dict()) for p in mine_document(entry, service, depth, seed)]
            tmp = kept.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            tmp.replace(kept)
        out[entry.name] = [json.loads(line) for line in kept.read_text("utf-8").splitlines()]
    return out


def assemble(mined: dict[str, list[dict]], negatives: int = NEGATIVES, seed: int = 0) -> list[dict]:
    """Training pairs from mined ones: per question its positives, its `negatives` best
    ranked wrong sentences, and one sentence of another document (an easy negative: a large
    index is full of them)."""
    rng = random.Random(seed)
    names = sorted(mined)
    out = []
    for name in names:
        others = [n for n in names if n != name and mined[n]]
        by_question: dict[str, list[dict]] = {}
        for pair in mined[name]:
            by_question.setdefault(pair["qid"], []).append(pair)
        for qid, pairs in by_question.items():
            out += [p for p in pairs if p["label"]]
            out += sorted((p for p in pairs if not p["label"]), key=lambda p: p["rank"])[:negatives]
            if others:
                stranger = rng.choice(mined[rng.choice(others)])
                out.append(
                    {
                        **pairs[0],
                        "qid": qid,
                        "heading": stranger["heading"],
                        "sentence": stranger["sentence"],
                        "before": stranger["before"],
                        "label": 0,
                        "span": None,
                        "source": "other-document",
                        "rank": -1,
                    }
                )
    return out


def _pairs(
    item: Item,
    qid: str,
    document: str,
    previous: str,
    service: QAService,
    candidates: list[SentenceCandidate],
) -> Iterator[Pair]:
    labels = [answers(item, c) for c in candidates]
    for rank, (candidate, label) in enumerate(zip(candidates, labels, strict=True)):
        yield _pair(item, qid, document, previous, candidate, int(label), "retrieved", rank)
    if item.answerable and not any(labels):
        for gold in gold_sentences(service, item)[:1]:
            yield _pair(item, qid, document, previous, gold, 1, "gold")


def _pair(
    item: Item,
    qid: str,
    document: str,
    previous: str,
    candidate: SentenceCandidate,
    label: int,
    source: str,
    rank: int = -1,
) -> Pair:
    return Pair(
        document=document,
        qid=qid,
        question=item.question,
        previous=previous,
        heading=candidate.heading,
        sentence=candidate.sentence,
        before=candidate.before,
        label=label,
        span=answer_span(candidate.sentence, item.answers) if label else None,
        source=source,
        answerable=item.answerable,
        rank=rank,
    )
