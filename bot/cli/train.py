"""`qabot train` from end to end: examples from the train and dev splits, the fitted
selector, its threshold chosen on dev, and the dev and held-out figures of the new selector
next to the similarity-only pipeline."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import document_service, notice, stderr_console, stdout_console
from bot.cli.safe import echo
from bot.tools import corpus, train

if TYPE_CHECKING:
    from bot.cli.common import State
    from bot.service import QAService


def run_training(state: State, corpus_file: Path, out: Path | None, evaluate: bool) -> None:
    from bot.config import SHIPPED_SELECTOR

    out = out or SHIPPED_SELECTOR
    log = notice(stderr_console())

    def open_for(document: Path, selector: str = "none") -> QAService:
        return document_service(state, document, selector=selector)

    splits = {s: corpus.load_corpus(corpus_file, [s]) for s in ("train", "dev")}
    log(f"reading {len(splits['train'])} train and {len(splits['dev'])} dev documents")
    data = {s: train.examples(entries, open_for) for s, entries in splits.items()}
    selector = train.fit_selector(data["train"])
    threshold, dev_figures = train.choose_threshold(selector, data["dev"])
    selector = dataclasses.replace(selector, threshold=threshold)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(selector.to_json(), encoding="utf-8")
    card: dict[str, Any] = {
        "trained_at": dt.datetime.now(dt.UTC).date().isoformat(),
        "corpus": str(corpus_file),
        "train_documents": [e.name for e in splits["train"]],
        "train_questions": len(data["train"]),
        "dev_documents": [e.name for e in splits["dev"]],
        "threshold": threshold,
        "threshold_on_dev": dev_figures,
        "weights": dict(zip(selector.features, selector.weights, strict=True)),
    }
    if evaluate:
        card["figures"] = _figures(corpus_file, out, open_for)
    out.with_suffix(".training.json").write_text(
        json.dumps(card, indent=2) + "\n", encoding="utf-8"
    )
    echo(
        f"Selector written to {out} ({len(data['train'])} train questions; "
        f"threshold {threshold:.2f} chosen on dev)"
    )


def _figures(corpus_file: Path, out: Path, open_for: Any) -> dict[str, Any]:
    """Dev and held-out, with and without the new selector, as a table and as data."""
    from bot.cli.report import render_table

    entries = corpus.load_corpus(corpus_file, ["dev", "held-out"])
    rows = []
    for label, selector in (("similarity only", "none"), ("selector", str(out))):
        results = corpus.evaluate_corpus(entries, lambda doc, s=selector: open_for(doc, s))
        for name, report in corpus.summary_rows(results):
            if name.startswith(("dev (", "held-out (")):
                rows.append((f"{name}: {label}", report))
    render_table(stdout_console(), f"{corpus_file}: dev and held-out", rows)
    return {name: report.metrics() for name, report in rows}
