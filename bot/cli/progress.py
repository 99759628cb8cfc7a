"""A build's progress bar on a terminal (Rich); nothing on a pipe."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgressBar


ESTIMATE_SECONDS = 10.0


class BuildProgress:
    """A progress bar on a terminal; on a pipe, nothing (the caller prints a summary)."""

    def __init__(self, console: Console):
        self.console = console
        self.bar: RichProgressBar | None = None
        self.task = None

    def start(self, total: int, description: str) -> None:
        """A bar for a new phase (reading documents, embedding), replacing the last one."""
        if not self.console.is_terminal:
            return
        self.close()  # one live display at a time
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            # A description is plain words and counts, shown as it is: not Rich markup.
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            # Both times say what they are: a bare 0:01:05 reads as either.
            TimeElapsedColumn(),
            TextColumn("elapsed,"),
            TimeRemainingColumn(),
            TextColumn("left"),
            console=self.console,
            transient=True,
            # The estimate follows the last few seconds' pace (embedding speeds up once the
            # model is warm), not the whole phase's.
            speed_estimate_period=ESTIMATE_SECONDS,
        )
        self.bar.start()
        self.task = self.bar.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
