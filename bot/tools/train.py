"""`qabot train`: fit the answer selector on the train split of the QA corpus and choose its
threshold on the dev split. Deterministic: the same corpus gives the same selector.

The similarity score still chooses the sentences of an answer; the selector decides whether
any candidate answers at all, so abstention comes from its calibrated probability.

Examples come from the bot's own retrieval: for each question of a train document, the
sentences that compete for its answer with the features the selector reads, labelled by the
QA set (a sentence answers when its passage holds the evidence and it holds an accepted
answer). Unanswerable questions give only negatives: that is what teaches abstention.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.types import SentenceCandidate, Turn
from bot.tools.corpus import Entry
from bot.tools.evaluation import contains_answer, contains_evidence
from bot.tools.qaset import Item

if TYPE_CHECKING:
    import numpy as np

    from bot.core.answering.selector import Selector
    from bot.service import QAService

L2 = 1.0  # ridge penalty on the standardised weights


@dataclass
class Examples:
    """Per question: its candidates' features and labels, and whether it is answerable."""

    features: list[np.ndarray] = dataclasses.field(default_factory=list)
    labels: list[np.ndarray] = dataclasses.field(default_factory=list)
    answerable: list[bool] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def label(item: Item, candidate: SentenceCandidate) -> float:
    """1.0 when the candidate answers the item: its passage holds the evidence and the
    sentence holds an accepted answer."""
    if not item.answerable:
        return 0.0
    cited = contains_evidence(candidate.passage, item.evidence)
    return float(cited and contains_answer(candidate.sentence, item.answers))


def questions_of(entry: Entry, service: QAService) -> Iterator[tuple[Item, list[Turn]]]:
    """Each question with the conversation before it (the bot's own earlier answers)."""
    for item in entry.qa_set.questions:
        yield item, []
    for conversation in entry.qa_set.conversations:
        history: list[Turn] = []
        for item in conversation:
            yield item, list(history)
            history.append(Turn(item.question, service.ask(item.question, history)))


def examples(entries: list[Entry], open_for: Callable[[Path], QAService]) -> Examples:
    """Every question of `entries`, its candidates' features and labels."""
    import numpy as np

    out = Examples()
    for entry in entries:
        service = open_for(entry.qa_set.document)
        for item, history in questions_of(entry, service):
            candidates, x = service.candidates(item.question, history)
            if not candidates:
                continue
            out.features.append(x)
            out.labels.append(np.array([label(item, c) for c in candidates]))
            out.answerable.append(item.answerable)
    return out


def fit_selector(train: Examples, features: tuple[str, ...] | None = None) -> Selector:
    """The logistic selector over every candidate of every train question (reading
    `features`, by default selector.FEATURES). An answerable question none of whose
    candidates answers (retrieval missed it) teaches nothing true about choosing, and is
    left out."""
    import numpy as np

    from bot.core.answering.selector import FEATURES, fit

    keep = [i for i, y in enumerate(train.labels) if y.any() or not train.answerable[i]]
    x = np.vstack([train.features[i] for i in keep])
    y = np.concatenate([train.labels[i] for i in keep])
    return fit(x, y, l2=L2, features=features or FEATURES)


def fit_reader_selector(dev: Examples) -> tuple[Selector, dict[str, float]]:
    """A reader's own selector: the rules' features and the reader's (selector.READER_
    FEATURES) of every sentence it reads, fitted on dev questions, which the reader was not
    trained on; with its threshold chosen there, as choose_threshold does."""
    from bot.core.answering.selector import FEATURES, READER_FEATURES

    selector = fit_selector(dev, FEATURES + READER_FEATURES)
    chosen, on_dev = choose_threshold(selector, dev)
    return dataclasses.replace(selector, threshold=chosen), on_dev


def decisions(selector: Selector, data: Examples) -> list[tuple[float, bool, bool]]:
    """Per question: the best candidate's probability, whether that candidate answers, and
    whether the question is answerable."""
    out = []
    for x, y, answerable in zip(data.features, data.labels, data.answerable, strict=True):
        p = selector.probabilities(x)
        best = int(p.argmax())
        out.append((float(p[best]), bool(y[best]), answerable))
    return out


# The share of answerable dev questions the selector may turn into "doesn't say" at most.
MAX_FALSE_ABSTENTION = 0.05


def choose_threshold(selector: Selector, dev: Examples) -> tuple[float, dict[str, float]]:
    """The highest threshold at which the selector vetoes at most MAX_FALSE_ABSTENTION of
    the answerable dev questions (by their best candidate's probability); with the share of
    unanswerable ones it vetoes there."""
    made = decisions(selector, dev)
    answerable = [p for p, _, ok in made if ok]
    unanswerable = [p for p, _, ok in made if not ok]
    chosen, vetoed, abstained = highest_threshold(answerable, unanswerable, top=0.95)
    return chosen, {"vetoed_answerable": vetoed, "vetoed_unanswerable": abstained}


def highest_threshold(
    answerable: list[float],
    unanswerable: list[float],
    top: float = 0.99,
    most: float = MAX_FALSE_ABSTENTION,
) -> tuple[float, float, float]:
    """The highest threshold (in hundredths, up to `top`) under which at most `most` of the
    answerable questions' probabilities fall; with the shares of answerable and unanswerable
    ones under it."""
    answerable, unanswerable = answerable or [1.0], unanswerable or [1.0]
    chosen = 0.0
    for step in range(1, round(top * 100) + 1):
        t = step / 100
        if sum(p < t for p in answerable) / len(answerable) > most:
            break
        chosen = t

    def under(ps: list[float]) -> float:
        return round(sum(p < chosen for p in ps) / len(ps), 4)

    return chosen, under(answerable), under(unanswerable)
