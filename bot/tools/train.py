"""`qabot train`: fine-tune the answer selector from the bundled MiniLM weights on the train
split of the QA corpus, with a fixed seed, and write weights the package can ship.

Examples come from the bot's own retrieval: for each question of a train document, the
sentences that compete for its answer, labelled by the QA set (a sentence answers when its
passage holds the evidence and it holds an accepted answer). Unanswerable questions give
only negatives, which is what teaches the selector to abstain. Training keeps the word
embeddings frozen, so they need not ship: the selector reloads them from the MiniLM package.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.types import SentenceCandidate, Turn
from bot.tools.corpus import Entry
from bot.tools.evaluation import Item, fold

if TYPE_CHECKING:
    from bot.service import QAService

DEPTH = 12  # candidates per question, as the selector sees them at answer time
# Negatives kept per question: the best-ranked ones, the on-topic sentences that are hard to
# tell from the answer; the rest cost training time and teach little.
NEGATIVES = 6
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class Example:
    question: str
    candidate: str
    label: float
    document: str


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 13
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 4e-5
    max_length: int = 96
    threads: int = 2
    layers: int = 6  # transformer layers kept from MiniLM's 6: fewer answer faster


def label(item: Item, candidate: SentenceCandidate) -> float:
    """1.0 when the candidate answers the item: its passage holds the evidence and the
    sentence holds an accepted answer."""
    if not item.answerable:
        return 0.0
    passage, sentence = fold(candidate.passage), fold(candidate.sentence)
    cited = any(fold(e) in passage for e in item.evidence)
    return float(cited and any(fold(a) in sentence for a in item.answers))


def _questions(entry: Entry, service: QAService) -> Iterator[tuple[Item, list[Turn]]]:
    """Each question with the conversation before it (the bot's own earlier answers)."""
    for item in entry.qa_set.questions:
        yield item, []
    for conversation in entry.qa_set.conversations:
        history: list[Turn] = []
        for item in conversation:
            yield item, list(history)
            history.append(Turn(item.question, service.ask(item.question, history)))


def examples(entries: list[Entry], open_for: Callable[[Path], QAService]) -> list[Example]:
    """Labelled (question, candidate) pairs from every document of `entries`. An answerable
    question none of whose candidates answers (retrieval missed it) teaches nothing true
    and is left out."""
    out = []
    for entry in entries:
        service = open_for(entry.qa_set.document)
        for item, history in _questions(entry, service):
            candidates = service.candidates(item.question, history, DEPTH)
            labels = [label(item, c) for c in candidates]
            if item.answerable and not any(labels):
                continue
            negatives = [c for c, y in zip(candidates, labels, strict=True) if not y]
            out += [
                Example(c.question, c.context, 1.0, entry.name)
                for c, y in zip(candidates, labels, strict=True)
                if y
            ]
            out += [Example(c.question, c.context, 0.0, entry.name) for c in negatives[:NEGATIVES]]
    return out


def train(
    data: list[Example], base_model: str, out: Path, settings: TrainSettings, log: Callable
) -> dict[str, Any]:
    """Fine-tune a cross-encoder on `data` and save it into `out`; returns what happened."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    # It reports every weight the classification head does not reuse: expected here.
    transformers_logging.set_verbosity_error()
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    model = AutoModelForSequenceClassification.from_pretrained(
        base_model, num_labels=1, num_hidden_layers=settings.layers
    )
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    positives = sum(e.label for e in data)
    loss_fn = torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor((len(data) - positives) / max(positives, 1.0))
    )
    steps = settings.epochs * ((len(data) + settings.batch_size - 1) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / (0.1 * steps)) * max(0.0, 1 - step / steps)
    )
    order = list(range(len(data)))
    started, step = time.perf_counter(), 0
    model.train()
    for epoch in range(settings.epochs):
        random.Random(settings.seed + epoch).shuffle(order)
        total = 0.0
        for begin in range(0, len(order), settings.batch_size):
            batch = [data[i] for i in order[begin : begin + settings.batch_size]]
            encoded = tokenizer(
                [e.question for e in batch],
                [e.candidate for e in batch],
                truncation="only_second",
                max_length=settings.max_length,
                padding=True,
                return_tensors="pt",
            )
            logits = model(**encoded).logits[:, 0]
            loss = loss_fn(logits, torch.tensor([e.label for e in batch]))
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += float(loss.detach()) * len(batch)
            step += 1
            if step % 100 == 0:
                elapsed = time.perf_counter() - started
                log(
                    f"step {step}/{steps}, {elapsed:.0f} s, loss {total / (begin + len(batch)):.4f}"
                )
        log(f"epoch {epoch + 1}/{settings.epochs}: loss {total / len(data):.4f}")
    model.eval()
    save(model, tokenizer, out)
    return {
        "examples": len(data),
        "positives": int(positives),
        "steps": step,
        "seconds": round(time.perf_counter() - started, 1),
    }


def save(model: Any, tokenizer: Any, out: Path) -> None:
    """fp16 weights without the (frozen, bundled) word embeddings, config and tokenizer."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().half().contiguous()
        for k, v in model.state_dict().items()
        if k != WORD_EMBEDDINGS and not k.endswith("position_ids")
    }
    save_file(state, str(out / "model.safetensors"))
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)


def write_card(out: Path, card: dict[str, Any]) -> None:
    """The figures and settings of a training run, next to its weights."""
    (out / "training.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
