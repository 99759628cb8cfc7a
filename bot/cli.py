"""The `qabot` command: ask, repl, eval, telegram, index rebuild, index status.

Heavy libraries (torch, sentence-transformers, faiss, python-telegram-bot) load only inside
the commands that need them, so `qabot --help` and `qabot index status` answer at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import __version__
from bot.errors import QABotError

if TYPE_CHECKING:
    from rich.console import Console

    from bot.answering import QAEngine
    from bot.config import Settings


class State:
    def __init__(self, config: Path | None, index_dir: Path | None, model: str | None):
        self.config = config
        self.index_dir = index_dir
        self.model = model

    def settings(self, **flags: object) -> Settings:
        from bot.config import load_settings

        flags.setdefault("index_dir", self.index_dir)
        flags.setdefault("model", self.model)
        return load_settings(self.config, **flags)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    from rich.console import Console

    # Rich wraps at word boundaries on a terminal; piped output keeps one line per paragraph,
    # and tables (eval, --explain) get room enough not to wrap their cells.
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, soft_wrap=True, width=160)


def open_engine(settings: Settings) -> QAEngine:
    """Load (building or refreshing if needed) the index, with progress on stderr."""
    from bot.answering import QAEngine
    from bot.terminal import BuildProgress

    err = stderr_console()
    progress = BuildProgress(err)
    try:
        return QAEngine.from_settings(
            settings, progress=progress, notify=lambda msg: err.print(f"[dim]{msg}[/]")
        )
    finally:
        progress.close()


def _folder(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    # click.Path turns "" into ".", the current folder, which is nobody's index.
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return Path(value) if value is not None else None


index_dir_option = click.option(
    "--index-dir",
    callback=_folder,
    help="Folder of the index [env QABOT_INDEX_DIR; default ./index].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML config file [env QABOT_CONFIG; default ./qabot.yaml if present].",
)
@index_dir_option
@click.option("--model", help="Embedding model: a name or a local path [env QABOT_MODEL].")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="qabot")
@click.pass_context
def cli(
    ctx: click.Context, config: Path | None, index_dir: Path | None, model: str | None, debug: bool
) -> None:
    """Ask questions about a document; get short answers with numbered citations.

    With no index yet, the first question builds one from the bundled news article.
    """
    ctx.obj = State(config, index_dir, model)


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--top-k", type=click.IntRange(1, 100), help="Passages to retrieve.")
@click.option(
    "--explain", is_flag=True, help="Show the passages found, their scores, and why it answered."
)
@click.pass_obj
def ask(state: State, question: str, as_json: bool, top_k: int | None, explain: bool) -> None:
    """Answer one QUESTION and exit."""
    from bot.terminal import answer_json, render_answer, render_explain

    settings = state.settings(top_k=top_k)
    engine = open_engine(settings)
    answer = engine.answer(question)
    if as_json:
        click.echo(answer_json(answer, explain=explain))
        return
    console = stdout_console()
    render_answer(console, answer)
    if explain:
        console.print()
        render_explain(console, answer)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Piped input only: one JSON object a line.")
@click.option("--top-k", type=click.IntRange(1, 100), help="Passages to retrieve.")
@click.pass_obj
def repl(state: State, as_json: bool, top_k: int | None) -> None:
    """Ask questions in a loop; follow-up questions use the conversation so far.

    On a terminal: a prompt with line editing and history (:help lists the commands).
    Piped: one question per line, one answer each (a line ':reset' starts over).
    """
    from bot import repl as repl_module

    settings = state.settings(top_k=top_k)
    engine = open_engine(settings)
    if sys.stdin.isatty() and not as_json:
        repl_module.interactive(engine, stdout_console())
    else:
        repl_module.piped(engine, sys.stdin, stdout_console(), as_json)


def eval_index_dir(document: Path) -> Path:
    """Where `qabot eval` keeps the index of a QA set's document: a cache, one per document."""
    import hashlib

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(str(document.resolve()).encode()).hexdigest()[:10]
    return cache / "qabot" / "eval" / f"{document.stem}-{tag}"


@cli.command(name="eval")
@click.argument("qa_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics and misses as JSON.")
@click.option("--top-k", type=click.IntRange(1, 100), help="Passages to retrieve.")
@click.option("--threshold", type=click.FloatRange(-1, 1), help="Override abstain_threshold.")
@click.option(
    "--steps", is_flag=True, help="Compare each step of the pipeline with the dense baseline."
)
@click.option(
    "--sweep", is_flag=True, help="Abstention against false abstention at each threshold."
)
@index_dir_option
@click.pass_obj
def eval_command(
    state: State,
    qa_file: Path,
    as_json: bool,
    top_k: int | None,
    threshold: float | None,
    steps: bool,
    sweep: bool,
    index_dir: Path | None,
) -> None:
    """Measure answer quality on a QA set (YAML; the format is in the README).

    The QA set names its document; its index is built on first use and kept in
    ~/.cache/qabot/eval unless --index-dir says otherwise.
    """
    from bot import evaluation
    from bot.documents import read_text
    from bot.terminal import render_report, render_table, reports_json

    qa_set = evaluation.load_qa_set(qa_file)
    read_text(qa_set.document)  # a clear error before the model loads
    settings = state.settings(
        top_k=top_k,
        abstain_threshold=threshold,
        sources=[qa_set.document],
        index_dir=index_dir or state.index_dir or eval_index_dir(qa_set.document),
    )
    engine = open_engine(settings)
    console = stdout_console()
    if steps or sweep:
        rows: list[tuple[str, evaluation.Report]] = []
        if steps:
            rows += evaluation.evaluate_steps(engine, qa_set)
        if sweep:
            thresholds = [round(0.20 + 0.02 * i, 2) for i in range(16)]
            rows += [
                (f"threshold {t:.2f}", report)
                for t, report in evaluation.sweep(engine, qa_set, thresholds)
            ]
        if as_json:
            click.echo(reports_json(rows))
        else:
            render_table(console, f"{qa_file} ({qa_set.document.name})", rows)
        return
    report = evaluation.evaluate(engine, qa_set)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        render_report(console, report)


@cli.command()
@click.option(
    "--mode",
    type=click.Choice(["polling", "webhook"]),
    help="How updates arrive [env QABOT_TELEGRAM_MODE; default polling].",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug log lines (secrets stay redacted).")
@click.pass_obj
def telegram(state: State, mode: str | None, verbose: bool) -> None:
    """Run the Telegram bot until Ctrl-C or SIGTERM.

    The token comes from TELEGRAM_BOT_TOKEN (or telegram.token in the config file); the
    README tells how to get one from @BotFather.
    """
    from bot import telegram_bot  # python-telegram-bot loads only for this command

    settings = state.settings(**({"telegram": {"mode": mode}} if mode else {}))
    telegram_bot.serve(settings, open_engine, verbose)


@cli.command()
@click.option(
    "--quick", is_flag=True, help="Scale only to 10,000 vectors, one repetition, a small build."
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
@click.pass_obj
def bench(state: State, quick: bool, sizes: str, repeat: int, out: Path) -> None:
    """Measure start-up, answer latency, build speed, memory and scale against their floors."""
    from bot import bench as bench_module
    from bot.terminal import render_bench

    try:
        counts = [int(s.replace("_", "")) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated whole numbers", param_hint="--sizes") from None
    documents = None  # every licence text the system has
    if quick:
        counts, repeat, documents = [c for c in counts if c <= 10_000] or [10_000], 1, 3
    settings = state.settings()
    err = stderr_console()
    results = bench_module.run(
        Path(settings.index_dir),
        counts,
        repeat,
        log=lambda m: err.print(f"[dim]{m} …[/]"),
        documents=documents,
    )
    bench_module.write(results, out)
    render_bench(stdout_console(), results)
    click.echo(f"\nFigures written to {out}")


@cli.group()
def index() -> None:
    """Build and inspect the index."""


@index.command()
@click.option(
    "--source",
    "sources",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Document to index (repeatable). Default: the configured sources, else the index's "
    "current ones, else the bundled article.",
)
@index_dir_option
@click.pass_obj
def rebuild(state: State, sources: tuple[Path, ...], index_dir: Path | None) -> None:
    """Build the index from scratch, replacing the old one only when the new one is complete."""
    from bot.answering import chunker_settings
    from bot.config import BUNDLED_DOCUMENT
    from bot.documents import read_text
    from bot.embedding import Embedder
    from bot.store import build_index, read_manifest
    from bot.terminal import BuildProgress

    settings = state.settings(index_dir=index_dir or state.index_dir, sources=list(sources) or None)
    target = Path(settings.index_dir)
    if settings.sources:
        chosen = list(settings.sources)
    else:
        existing = read_manifest(target) if (target / "manifest.json").exists() else None
        chosen = [Path(s.path) for s in existing.sources] if existing else [BUNDLED_DOCUMENT]
    for path in chosen:  # fail before loading the model
        read_text(path)
    err = stderr_console()
    progress = BuildProgress(err)
    started = time.perf_counter()
    try:
        embedder = Embedder(settings.model, settings.device, settings.batch_size, settings.backend)
        manifest = build_index(
            chosen,
            target,
            embedder,
            chunker_settings(settings),
            progress,
            notify=lambda msg: err.print(f"[dim]{msg}[/]"),
            index_type=settings.index_type,
        )
    finally:
        progress.close()
    elapsed = time.perf_counter() - started
    names = ", ".join(Path(s.path).name for s in manifest.sources)
    click.echo(
        f"Indexed {manifest.chunk_count} passages ({manifest.sentence_count} sentences) "
        f"from {names} in {elapsed:.1f} s -> {target.resolve()}"
    )


@index.command()
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and checks as JSON.")
@click.pass_obj
def status(state: State, index_dir: Path | None, as_json: bool) -> None:
    """Describe the index: what it holds, whether it is up to date, its size on disk."""
    from dataclasses import asdict

    from bot.answering import chunker_settings
    from bot.embedding import model_identity
    from bot.store import disk_size, missing_sources, read_manifest, staleness

    settings = state.settings(index_dir=index_dir or state.index_dir)
    target = Path(settings.index_dir)
    manifest = read_manifest(target)
    if manifest is None:
        raise QABotError(f"no index in {target} yet; build it: qabot index rebuild")
    sources = settings.sources or [Path(s.path) for s in manifest.sources]
    gone = missing_sources(manifest)
    reasons = staleness(
        manifest,
        sources,
        model_identity(settings.model, settings.backend),
        chunker_settings(settings),
        settings.index_type,
    )
    reasons = [r for r in reasons if not any(g in r for g in gone)]
    reasons += [f"{g} no longer exists" for g in gone]
    size = disk_size(target, manifest)
    if as_json:
        report = asdict(manifest) | {
            "index_dir": str(target.resolve()),
            "up_to_date": not reasons,
            "stale_reasons": reasons,
            "size_bytes": size,
        }
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    state_text = "up to date" if not reasons else "OUT OF DATE: " + "; ".join(reasons)
    rows = [
        ("Index", f"{target.resolve()} ({state_text})"),
        (
            "Built",
            f"{manifest.built_at} in {manifest.build_seconds:.1f} s (qabot "
            f"{manifest.qabot_version}, schema {manifest.schema})",
        ),
        ("Model", f"{manifest.model} ({manifest.dimension} dimensions)"),
        ("Chunking", ", ".join(f"{k}={v}" for k, v in manifest.chunker.items())),
        (
            "Passages",
            f"{manifest.chunk_count} ({manifest.sentence_count} sentences), "
            f"{manifest.index_type} index",
        ),
        ("Size", f"{size / 1024:.1f} KiB on disk"),
    ]
    for s in manifest.sources:
        rows.append(
            (
                "Source",
                f"{s.path} ({s.bytes:,} bytes, {s.chunks} passages, sha256 {s.sha256[:12]}…)",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key + ':':<{width + 1}} {value}")
    if reasons:
        click.echo("Run `qabot index rebuild` to bring it up to date (asking a question does too).")


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors and exit codes instead of tracebacks (unless --debug)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("QABOT_DEBUG") == "1"
    try:
        cli.main(args, prog_name="qabot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        sys.exit(exc.exit_code)
    except QABotError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # A reader that stopped early (`| head`) is not an error worth a traceback.
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
