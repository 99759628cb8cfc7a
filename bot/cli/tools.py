"""`qabot train` and `qabot bench`, the commands over `bot.tools` (`qabot eval` is
`evaluate`'s): their options here, and what they run imported only when they run, so that
`qabot --help` and `qabot ask` never load the training or benchmark code."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import State, notice, stderr_console, stdout_console
from bot.cli.safe import echo


@click.command()
@click.option(
    "--corpus",
    "corpora",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    help="A QA corpus (repeatable): trained on its train split, threshold chosen on dev "
    "[default: eval/corpus.yaml and eval/reader/corpus.yaml].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The folder to write the reader to [default: the one the package ships].",
)
@click.option("--quick", is_flag=True, help="A tiny run on the smallest documents (tests).")
@click.option(
    "--fraction",
    type=click.FloatRange(0.01, 1.0),
    default=1.0,
    show_default=True,
    help="Train on this share of the train questions (the learning curve).",
)
@click.option("--epochs", type=click.FloatRange(0.01, 20), help="Passes over the pairs [1].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-eval", is_flag=True, help="Skip evaluating dev and held-out afterwards.")
@click.option(
    "--reuse-model",
    is_flag=True,
    help="Keep the model already trained in --out: choose its threshold and fit its "
    "selector again.",
)
@click.option(
    "--selector",
    "selector_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fit the older logistic answer selector instead, into this file.",
)
@click.pass_obj
def train(
    state: State,
    corpora: tuple[Path, ...],
    out: Path | None,
    quick: bool,
    fraction: float,
    epochs: float | None,
    seed: int,
    no_eval: bool,
    reuse_model: bool,
    selector_file: Path | None,
) -> None:
    """Train the reader on the QA corpora, then report dev and held-out figures.

    Seeded: the same corpora and settings give the same reader on the same machine. About
    two hours on two CPU cores; --quick takes seconds.
    """
    import dataclasses

    if selector_file is not None:
        from bot.cli.train import run_training

        corpus_file = corpora[0] if corpora else Path("eval/corpus.yaml")
        run_training(state, corpus_file, selector_file, evaluate=not no_eval)
        return
    from bot.cli import train_reader
    from bot.config import SHIPPED_READER
    from bot.tools.reader_train import TrainSettings

    chosen = list(corpora) or [Path("eval/corpus.yaml"), Path("eval/reader/corpus.yaml")]
    settings = train_reader.QUICK if quick else TrainSettings()
    settings = dataclasses.replace(settings, seed=seed)
    if epochs is not None:
        settings = dataclasses.replace(settings, epochs=epochs)
    train_reader.run(
        state,
        chosen,
        out or SHIPPED_READER,
        settings,
        fraction,
        quick,
        evaluate=not no_eval,
        reuse_model=reuse_model,
    )


@click.command()
@click.option(
    "--quick",
    is_flag=True,
    help="Scale only to 10,000 vectors, one repetition, a small build, 100 Telegram questions.",
)
@click.option(
    "--sizes",
    default="10000,100000,1000000",
    show_default=True,
    help="Corpus sizes (vectors) for the scale table, comma-separated.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Runs of each subprocess timing (the median is kept).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("bench-results/bench.json"),
    show_default=True,
    help="Where to write the figures as JSON.",
)
@click.option(
    "--corpus",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also build, load and ask over every document in this folder (peak memory too).",
)
@click.pass_obj
def bench(
    state: State, quick: bool, sizes: str, repeat: int, out: Path, corpus: Path | None
) -> None:
    """Measure start-up, answer latency, build speed, memory and scale against their floors."""
    from bot.cli.report import render_bench
    from bot.tools import bench as bench_module

    try:
        counts = [int(s.replace("_", "")) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated whole numbers", param_hint="--sizes") from None
    documents, load = None, (50, 10)  # every licence text the system has; 50 chats x 10
    if quick:
        counts, repeat, documents = [c for c in counts if c <= 10_000] or [10_000], 1, 3
        load = (20, 5)
    settings = state.settings()
    err = stderr_console()
    results = bench_module.run(
        Path(settings.index_dir),
        counts,
        repeat,
        log=lambda m: notice(err)(f"{m} …"),
        documents=documents,
        load=load,
        corpus=corpus,
    )
    bench_module.write(results, out)
    render_bench(stdout_console(), results)
    echo(f"\nFigures written to {out}")
