"""`qabot index rebuild | add | remove | list | status`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli.common import State, index_dir_option, notice, stderr_console, stdout_console
from bot.cli.safe import echo, echo_json

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.types import Manifest, SourceInfo


@click.group()
def index() -> None:
    """Build and inspect the index."""


@index.command()
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Document to index (repeatable). Default: the configured sources, else the index's "
    "current ones, else the bundled article.",
)
@index_dir_option
@click.pass_obj
def rebuild(state: State, sources: tuple[str, ...], index_dir: Path | None) -> None:
    """Build the index from scratch, replacing the old one only when the new one is complete."""
    from bot import service
    from bot.cli.progress import BuildProgress

    settings = state.settings(index_dir=index_dir or state.index_dir, sources=list(sources) or None)
    err = stderr_console()
    progress = BuildProgress(err)
    started = time.perf_counter()
    try:
        manifest = service.rebuild(settings, progress=progress, notify=notice(err))
    finally:
        progress.close()
    elapsed = time.perf_counter() - started
    names = ", ".join(s.name or Path(s.path).name for s in manifest.sources[:3])
    if len(manifest.sources) > 3:
        names = _count(len(manifest.sources), "document")
    echo(
        f"Indexed {manifest.chunk_count} passages ({manifest.sentence_count} sentences) "
        f"from {names} in {elapsed:.1f} s -> {Path(settings.index_dir).resolve()}"
    )


@index.command()
@click.argument("sources", nargs=-1, required=True)
@index_dir_option
@click.option(
    "--keep-demo", is_flag=True, help="Keep the bundled demo article beside your documents."
)
@click.pass_obj
def add(state: State, sources: tuple[str, ...], index_dir: Path | None, keep_demo: bool) -> None:
    """Add documents: files, folders (every .txt .md .html .pdf .docx file in them) or
    http(s) URLs. Only new or changed text is embedded. The first documents added to an
    index holding only the demo article replace it (--keep-demo keeps it)."""
    from bot import service

    def change(settings: Settings, **kw: Any) -> Manifest:
        return service.add(settings, sources, keep_demo=keep_demo, **kw)

    _changing(state, index_dir, "Added", change)


@index.command()
@click.argument("names", nargs=-1, required=True)
@index_dir_option
@click.pass_obj
def remove(state: State, names: tuple[str, ...], index_dir: Path | None) -> None:
    """Take documents out of the index: NAMES as `qabot index list` shows them, or each
    document's path or URL."""
    from bot import service

    _changing(state, index_dir, "Removed", lambda s, **kw: service.remove(s, names, **kw))


def _changing(state: State, index_dir: Path | None, verb: str, change: Callable) -> None:
    """Run an index change with a progress bar, then say what the index holds now."""
    from bot.cli.progress import BuildProgress

    settings = state.settings(index_dir=index_dir or state.index_dir)
    err = stderr_console()
    progress = BuildProgress(err)
    try:
        manifest = change(settings, progress=progress, notify=notice(err))
    finally:
        progress.close()
    echo(
        f"{verb}. The index holds {_count(len(manifest.sources), 'document')}, "
        f"{_count(manifest.chunk_count, 'passage')}. See them: qabot index list"
    )


@index.command(name="list")
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document: a list of documents.")
@click.option("--jsonl", "as_lines", is_flag=True, help="JSON lines: one object per document.")
@click.pass_obj
def list_command(state: State, index_dir: Path | None, as_json: bool, as_lines: bool) -> None:
    """The documents in the index: name, format, size, passages, sha256, when added."""
    from dataclasses import asdict

    from rich.table import Table

    from bot import service
    from bot.cli.safe import styled

    settings = state.settings(index_dir=index_dir or state.index_dir)
    manifest = service.status(settings).manifest
    if as_json:
        echo_json(json.dumps([asdict(i) for i in manifest.sources], ensure_ascii=False, indent=2))
        return
    if as_lines:  # for a stream reader (jq -c, a shell loop)
        for info in manifest.sources:
            echo_json(json.dumps(asdict(info), ensure_ascii=False))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "format", "size", "passages", "sha256", "added", "source"):
        table.add_column(column, justify="right" if column == "passages" else "left")
    for s in manifest.sources:
        size = _count(s.pages, "page") if s.pages else _count(s.paragraphs, "paragraph")
        added = (s.added_at or manifest.built_at)[:16].replace("T", " ")
        cells = (s.name or s.doc_id, s.format, size, str(s.chunks), s.sha256[:12], added, s.path)
        table.add_row(*(styled(c) for c in cells))
    stdout_console().print(table)
    for reason in manifest.skipped.values():
        stdout_console().print(styled(("left out:", "yellow"), " ", reason))


@index.command()
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and checks as JSON.")
@click.pass_obj
def status(state: State, index_dir: Path | None, as_json: bool) -> None:
    """Describe the index: what it holds, whether it is up to date, its size on disk. Exit
    status 1 when it is damaged; `--json` gives "ok": false whenever anything is wrong."""
    from dataclasses import asdict

    from bot import service

    report = service.status(state.settings(index_dir=index_dir or state.index_dir))
    manifest, reasons = report.recorded, report.reasons
    target = report.index_dir.resolve()
    if as_json:
        data = (asdict(manifest) if manifest else {}) | {
            "index_dir": str(target),
            "ok": report.ok,
            "up_to_date": report.up_to_date,
            "stale_reasons": reasons,
            "size_bytes": report.size_bytes,
            "damage": report.damage,
        }
        echo_json(json.dumps(data, indent=2, ensure_ascii=False))
        if report.damage:
            raise SystemExit(1)
        return
    state_text = "up to date" if not reasons else "OUT OF DATE: " + "; ".join(reasons)
    if report.damage:
        state_text = f"DAMAGED: {report.damage}"
    if manifest is None:  # the manifest itself is damaged: nothing in it is shown
        echo(f"Index: {target} ({state_text})")
        echo(
            "Rebuild it from your documents: qabot index rebuild --source FILE "
            "(or qabot index add FILE …)."
        )
        raise SystemExit(1)
    rows = [
        ("Index", f"{target} ({state_text})"),
        (
            "Built",
            f"{manifest.built_at} in {manifest.build_seconds:.1f} s (qabot "
            f"{manifest.qabot_version}, schema {manifest.schema})",
        ),
        ("Model", f"{manifest.model} ({manifest.dimension} dimensions)"),
        ("Questions", _query_encoder(manifest.query_encoder)),
        ("Chunking", ", ".join(f"{k}={v}" for k, v in manifest.chunker.items())),
        (
            "Passages",
            f"{manifest.chunk_count} ({manifest.sentence_count} sentences), "
            f"{manifest.index_type} index",
        ),
        ("Size", f"{report.size_bytes / 1024:.1f} KiB on disk"),
    ]
    for s in manifest.sources:
        rows.append(
            (
                "Source",
                f"{s.path} ({_sizes(s)}, {s.chunks} passages, sha256 {s.sha256[:12]}…)",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        echo(f"{key + ':':<{width + 1}} {value}")
    if report.damage:
        echo("Rebuild it: qabot index rebuild (its documents are read again).")
        raise SystemExit(1)
    if reasons:
        echo("Run `qabot index rebuild` to bring it up to date (asking a question does too).")


def _query_encoder(recorded: dict[str, str] | None) -> str:
    """How questions are encoded, as the build recorded it."""
    if not recorded:
        return "sentence-transformers (loads torch)"
    where = Path(recorded["file"])
    line = f"{recorded['runtime']}, {where.name} (sha256 {recorded['sha256'][:12]}…)"
    if not where.is_file():
        line += "; the export is gone: the next answer makes it again, loading torch once"
    return line


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _sizes(s: SourceInfo) -> str:
    """The file's size and its text's apart: a 39 KB .docx may hold 7 KB of text, and
    either alone would read as the other."""
    text = f"{s.bytes:,} bytes of text"
    return f"a {s.file_size:,}-byte file, {text}" if s.file_size else text
