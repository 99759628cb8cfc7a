"""What the long-running front ends cost: resident memory of `qabot repl` and of a real
`qabot telegram` process, and the Telegram load run (many chats asking at once).

The Telegram figures need the fake Bot API server and load run that live with the tests
(`tests/telegram/`, aiohttp from the dev extras), so they are measured only in a source
checkout set up by `make setup`; elsewhere the report says they were skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[2]
LOAD_RUN = CHECKOUT / "tests" / "telegram" / "load.py"


def process_memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of a running process now, and its peak, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS", "VmHWM"))
    }
    return {"rss_mb": round(fields["VmRSS"] / 1024, 1), "peak_mb": round(fields["VmHWM"] / 1024, 1)}


def repl_rss_mb(command: list[str], question: str) -> dict[str, float]:
    """Resident memory of `qabot repl` (`command`) after it has loaded and answered once."""
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin and proc.stdout
    try:
        proc.stdin.write(question + "\n")
        proc.stdin.flush()
        proc.stdout.readline()
        return process_memory_mb(proc.pid)
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def telegram(index_dir: Path, chats: int = 50, per_chat: int = 10) -> dict[str, Any]:
    """The load run paced as the bot is by default (Telegram's limit), the same unpaced
    (what the bot itself can answer), and a real bot process's memory after answering."""
    try:
        import aiohttp  # noqa: F401  (the fake server's)
    except ImportError:
        return {"skipped": "needs the dev extras (aiohttp): make setup"}
    if not LOAD_RUN.is_file():
        return {"skipped": "needs a source checkout (tests/telegram/load.py)"}
    size = ("--chats", str(chats), "--questions", str(per_chat))
    return {
        "paced": _load_run(index_dir, *size),
        "unpaced": _load_run(index_dir, *size, "--max-rate", "0"),
        "process": _load_run(index_dir, "--process-only"),
    }


def _load_run(index_dir: Path, *args: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "load.json"
        command = [sys.executable, "-m", "tests.telegram.load", "--index-dir", str(index_dir)]
        subprocess.run(
            [*command, *args, "--json", str(out)],
            cwd=CHECKOUT,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
        return json.loads(out.read_text(encoding="utf-8"))
