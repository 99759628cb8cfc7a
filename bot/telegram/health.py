"""A health file a supervisor can check: `telegram.health_file`.

While the bot runs, a task on its event loop rewrites the file every `health_interval`
seconds (atomically: a reader never sees half of it), so a fresh file says the loop that
answers questions is alive; a stale one, that the process is gone or stuck. It says
"starting" while the index loads and "stopped" once the bot has shut down (a crash leaves
"ok" going stale). `qabot telegram --health` reads it: exit 0 only when it is fresh and ok.

No python-telegram-bot here: a supervisor runs the check often, and it should be quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.errors import QABotError

log = logging.getLogger("bot.telegram")

# Two missed rewrites: a busy moment is not an alarm, a stuck loop soon is.
STALE_AFTER_INTERVALS = 3


class HealthError(QABotError):
    """The health file is missing, stale, unreadable, or says the bot is not running."""


def write_atomically(path: Path, text: str) -> None:
    """Write beside the file, then rename over it: readers see the old or the new file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


class HealthReporter:
    """Writes the health file: `write` at once, `start`/`stop` the rewriting task."""

    def __init__(self, path: Path, interval: float, mode: str):
        self.path = path
        self.interval = interval
        self.mode = mode
        self.started = time.monotonic()
        # What the bot adds once it is built (questions, build id); set by build_application.
        self.facts: Callable[[], dict[str, Any]] = dict
        self.task: asyncio.Task[None] | None = None
        self.stopped = False

    def record(self, status: str) -> dict[str, Any]:
        return {
            "status": status,
            "pid": os.getpid(),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "questions": 0,
            "build_id": None,
            "mode": self.mode,
            "interval_s": self.interval,
            **self.facts(),
        }

    def write(self, status: str) -> None:
        """Raises OSError when the file cannot be written."""
        write_atomically(self.path, json.dumps(self.record(status)) + "\n")
        self.stopped = status == "stopped"

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._rewrite(), name="health-file")

    async def _rewrite(self) -> None:
        failing = False
        while True:
            try:
                self.write("ok")
                failing = False
            except OSError as exc:
                if not failing:  # once per run of failures, not every interval
                    log.warning("cannot write the health file %s: %s", self.path, exc)
                failing = True
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        self.mark_stopped()

    def mark_stopped(self) -> None:
        if self.stopped:
            return
        try:
            self.write("stopped")
        except OSError as exc:
            log.warning("cannot mark the health file %s stopped: %s", self.path, exc)


def check_health(path: Path, now: datetime | None = None) -> str:
    """One line for `qabot telegram --health`; HealthError unless the bot runs and is fresh."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        status, updated = data["status"], datetime.fromisoformat(data["updated_at"])
        interval = float(data["interval_s"])
        age = ((now or datetime.now(UTC)) - updated).total_seconds()  # TypeError if no zone
    except FileNotFoundError:
        raise HealthError(f"no health file at {path}: the bot is not running") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HealthError(f"cannot read the health file {path} ({exc})") from None
    except (ValueError, KeyError, TypeError):
        raise HealthError(f"{path} is not a qabot health file") from None
    if status == "stopped":
        raise HealthError(f"the bot stopped at {data['updated_at']} (pid {data.get('pid')})")
    if status == "starting":
        raise HealthError(f"the bot is starting (loading the index) since {age:.0f} s ago")
    if status != "ok":
        raise HealthError(f"{path} says {status!r}")
    if age > STALE_AFTER_INTERVALS * interval:
        raise HealthError(
            f"the health file {path} was last written {age:.0f} s ago (every {interval:g} s "
            f"expected): the bot (pid {data.get('pid')}) is stuck or gone"
        )
    return (
        f"ok: pid {data.get('pid')}, up {data.get('uptime_s', 0):.0f} s, "
        f"{data.get('questions', 0)} questions, build {data.get('build_id')}, "
        f"written {max(age, 0):.0f} s ago"
    )
