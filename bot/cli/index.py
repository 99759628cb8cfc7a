"""`qabot index rebuild` and `qabot index status`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from bot.cli.common import State, index_dir_option, notice, stderr_console


@click.group()
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
    names = ", ".join(Path(s.path).name for s in manifest.sources)
    click.echo(
        f"Indexed {manifest.chunk_count} passages ({manifest.sentence_count} sentences) "
        f"from {names} in {elapsed:.1f} s -> {Path(settings.index_dir).resolve()}"
    )


@index.command()
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and checks as JSON.")
@click.pass_obj
def status(state: State, index_dir: Path | None, as_json: bool) -> None:
    """Describe the index: what it holds, whether it is up to date, its size on disk."""
    from dataclasses import asdict

    from bot import service

    report = service.status(state.settings(index_dir=index_dir or state.index_dir))
    manifest, reasons = report.manifest, report.reasons
    target = report.index_dir.resolve()
    if as_json:
        data = asdict(manifest) | {
            "index_dir": str(target),
            "up_to_date": report.up_to_date,
            "stale_reasons": reasons,
            "size_bytes": report.size_bytes,
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    state_text = "up to date" if not reasons else "OUT OF DATE: " + "; ".join(reasons)
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
                f"{s.path} ({s.bytes:,} bytes, {s.chunks} passages, sha256 {s.sha256[:12]}…)",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key + ':':<{width + 1}} {value}")
    if reasons:
        click.echo("Run `qabot index rebuild` to bring it up to date (asking a question does too).")


def _query_encoder(recorded: dict[str, str] | None) -> str:
    """How questions are encoded, as the build recorded it."""
    if not recorded:
        return "sentence-transformers (loads torch)"
    where = Path(recorded["file"])
    line = f"{recorded['runtime']}, {where.name} (sha256 {recorded['sha256'][:12]}…)"
    if not where.is_file():
        line += "; the export is gone: the next answer makes it again, loading torch once"
    return line
