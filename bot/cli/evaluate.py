"""`qabot eval`: a QA set or the corpus through the same code as `ask`, reported as tables
or JSON; `--check` only checks a set against its document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import State, document_service, index_dir_option, stdout_console
from bot.cli.safe import echo, echo_json
from bot.core.errors import QABotError

if TYPE_CHECKING:
    from bot.service import QAService
    from bot.tools import evaluation, qaset


@click.command(name="eval")
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
@click.option(
    "--check", is_flag=True, help="Only check the QA set against its document (no model)."
)
@click.option(
    "--split",
    type=click.Choice(["train", "dev", "held-out"]),
    multiple=True,
    help="A corpus file: only the documents of this split (repeatable). Default: all.",
)
@click.option(
    "--among",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Ask of one index holding every QA set's document and all documents in this folder "
    "(how answers hold up in a large, varied index). Built once, then cached.",
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
    check: bool,
    split: tuple[str, ...],
    among: Path | None,
    index_dir: Path | None,
) -> None:
    """Measure answer quality on a QA set or a corpus of them (YAML; formats in docs/quality.md).

    A QA set names its document; its index is built on first use and kept in
    ~/.cache/qabot/eval unless --index-dir says otherwise. A corpus (eval/corpus.yaml) lists
    QA sets with each document's kind and split, and is reported per document, kind and split.
    """
    from bot.cli.report import render_report, render_table, reports_json
    from bot.service import check_sources
    from bot.tools import corpus, evaluation, qaset

    if corpus.is_corpus(qa_file):
        _eval_corpus(state, qa_file, split, steps, as_json, top_k, threshold, among)
        return
    qa_set = qaset.load_qa_set(qa_file)
    check_sources([qa_set.document])  # a clear error before the model loads
    if check:
        _check(qa_file, qa_set)
        return
    service = document_service(
        state,
        qa_set.document,
        index_dir or state.index_dir,
        among=among,
        top_k=top_k,
        abstain_threshold=threshold,
    )
    console = stdout_console()
    if steps or sweep:
        rows: list[tuple[str, evaluation.Report]] = []
        if steps:
            rows += evaluation.evaluate_steps(service, qa_set)
        if sweep:
            thresholds = [round(0.20 + 0.02 * i, 2) for i in range(16)]
            rows += [
                (f"threshold {t:.2f}", report)
                for t, report in evaluation.sweep(service, qa_set, thresholds)
            ]
        if as_json:
            echo_json(reports_json(rows))
        else:
            render_table(console, f"{qa_file} ({qa_set.document.name})", rows)
        return
    report = evaluation.evaluate(service, qa_set)
    if as_json:
        echo_json(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        render_report(console, report)


def _eval_corpus(
    state: State,
    path: Path,
    splits: tuple[str, ...],
    steps: bool,
    as_json: bool,
    top_k: int | None,
    threshold: float | None,
    among: Path | None,
) -> None:
    from bot.cli.report import render_table, reports_json
    from bot.service import check_sources
    from bot.tools import corpus

    entries = corpus.load_corpus(path, splits or corpus.SPLITS)
    check_sources([e.qa_set.document for e in entries])
    flags = {"top_k": top_k, "abstain_threshold": threshold}
    if among is not None:  # one index for every set: their documents and the folder's
        first, *others = [e.qa_set.document for e in entries]
        shared = document_service(state, first, among=[*others, among], **flags)

    def open_for(document: Path) -> QAService:
        return shared if among else document_service(state, document, **flags)

    rows = corpus.summary_rows(corpus.evaluate_corpus(entries, open_for, steps))
    if as_json:
        echo_json(reports_json(rows))
    else:
        render_table(stdout_console(), f"{path} ({len(entries)} documents)", rows)


def _check(qa_file: Path, qa_set: qaset.QASet) -> None:
    """`--check`: each problem on a line, then ok or a one-line error (exit 1)."""
    from bot.tools import qaset

    problems = qaset.check_qa_set(qa_set)
    for problem in problems:
        echo(f"{qa_file}: {problem}")
    if problems:
        raise QABotError(f"{qa_file}: {len(problems)} problem(s) in the QA set ({qa_set.summary})")
    echo(f"{qa_file}: ok ({qa_set.summary})")
