"""`qabot train` from end to end: examples from the train split, training, the model card,
and the dev and held-out figures of the new selector next to the similarity-only pipeline."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli.common import (
    eval_index_dir,
    notice,
    open_service,
    stderr_console,
    stdout_console,
)
from bot.tools import corpus, train

if TYPE_CHECKING:
    from bot.cli.common import State
    from bot.service import QAService


def run_training(
    state: State,
    corpus_file: Path,
    out: Path | None,
    *,
    epochs: int | None,
    seed: int | None,
    limit: int | None,
    evaluate: bool,
) -> None:
    from bot.config import SHIPPED_SELECTOR
    from bot.service import base_model_path

    out = out or SHIPPED_SELECTOR
    log = notice(stderr_console())
    base = state.settings()
    settings = train.TrainSettings()
    settings = dataclasses.replace(
        settings,
        **{k: v for k, v in {"epochs": epochs, "seed": seed}.items() if v is not None},
    )

    def open_for(document: Path, selector: str = "none") -> QAService:
        return open_service(
            state.settings(
                sources=[document], index_dir=eval_index_dir(document), selector=selector
            )
        )

    entries = corpus.load_corpus(corpus_file, ["train"])
    log(f"collecting examples from {len(entries)} train documents")
    data = train.examples(entries, open_for)
    data = data[:limit] if limit else data
    log(f"training on {len(data)} examples ({int(sum(e.label for e in data))} positive)")
    stats = train.train(data, base_model_path(base), out, settings, log)
    card: dict[str, Any] = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "base_model": base.model,
        "corpus": str(corpus_file),
        "train_documents": [e.name for e in entries],
        "settings": dataclasses.asdict(settings),
        **stats,
    }
    if evaluate:
        card["figures"] = _figures(corpus_file, out, open_for)
    train.write_card(out, card)
    click.echo(f"Selector written to {out} ({stats['examples']} examples, {stats['seconds']} s)")


def _figures(corpus_file: Path, out: Path, open_for: Any) -> dict[str, Any]:
    """Dev and held-out, with and without the new selector, as a table and as data."""
    from bot.cli.report import render_table

    entries = corpus.load_corpus(corpus_file, ["dev", "held-out"])
    rows = []
    for label, selector in (("similarity only", "none"), ("selector", str(out))):
        results = corpus.evaluate_corpus(entries, lambda doc, s=selector: open_for(doc, s))
        for name, report in corpus.summary_rows(results):
            if not name.startswith(("dev (", "held-out (")):
                continue
            rows.append((f"{name}: {label}", report))
    render_table(stdout_console(), f"{corpus_file}: dev and held-out", rows)
    return {name: report.metrics() for name, report in rows}
