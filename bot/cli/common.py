"""What every command shares: settings from the global options, consoles, opening the service."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

    from bot.config import Settings
    from bot.service import QAService


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
    from bot.cli.safe import SafeConsole

    return SafeConsole(stderr=True, highlight=False)


def stdout_console() -> Console:
    from bot.cli.safe import SafeConsole as Console

    # Rich wraps at word boundaries on a terminal; piped output keeps one line per paragraph,
    # and tables (eval, --explain) get room enough not to wrap their cells.
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, soft_wrap=True, width=160)


def open_service(settings: Settings) -> QAService:
    """Load (building or refreshing if needed) the index, with progress on stderr."""
    from bot.cli.progress import BuildProgress
    from bot.service import QAService

    err = stderr_console()
    progress = BuildProgress(err)
    try:
        return QAService.open(settings, progress=progress, notify=notice(err))
    finally:
        progress.close()


def notice(console: Console) -> Callable[[str], None]:
    """A notify callback that prints dimmed lines to `console`, each one line however long
    (a path cut in two cannot be copied, and a log reader greps lines). A message names
    files: Text, so `[x]` or `:smile:` in a name is shown as it is."""
    from bot.cli.safe import styled

    return lambda message: console.print(styled(message), style="dim", soft_wrap=True)


def _folder(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    # click.Path turns "" into ".", the current folder, which is nobody's index.
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return Path(value) if value is not None else None


# Before the user adds a document, answers come from the bundled news article: said, so that
# nobody takes them for answers about their own documents.
DEMO_HINT = "the bundled demo article; to ask about your own documents: qabot index add FILE"

index_dir_option = click.option(
    "--index-dir",
    callback=_folder,
    help="Folder of the index [env QABOT_INDEX_DIR; default ./index].",
)


def eval_index_dir(document: Path, *more: Path) -> Path:
    """Where `qabot eval` keeps the index of a QA set's document (and of any documents
    indexed with it, `--among`): a cache, one per set of documents."""
    import hashlib

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    names = "\0".join(str(p.resolve()) for p in (document, *more))
    tag = hashlib.sha256(names.encode()).hexdigest()[:10]
    stem = f"{document.stem}-among-{len(more)}" if more else document.stem
    return cache / "qabot" / "eval" / f"{stem}-{tag}"


def document_service(
    state: State,
    document: Path,
    index_dir: Path | None = None,
    among: Path | Sequence[Path] | None = None,
    **flags: object,
) -> QAService:
    """A service over one document (`qabot eval`, `qabot train`), or over it and the
    documents `among` (files or folders): its index in `index_dir`, else cached per set of
    documents (eval_index_dir)."""
    more = [] if among is None else [among] if isinstance(among, Path) else list(among)
    settings = state.settings(
        sources=[str(p) for p in (document, *more)],
        index_dir=index_dir or eval_index_dir(document, *more),
        **flags,
    )
    return open_service(settings)
