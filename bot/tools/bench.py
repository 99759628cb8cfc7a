"""`qabot bench`: speed and memory, each figure next to the floor the libraries themselves
set, measured in the same run on the same machine (a ratio survives a noisy machine better
than a time does).

The measurements are the modules beside this one: `latency` (start-up, a cold `ask`, warm
answers), `throughput` (building, and both embedding backends on the same corpus),
`footprint` (the long-running front ends' memory, the Telegram load run), `corpusbench`
(`--corpus`: a folder of many documents) and `scale` (the FAISS index types at sizes no
document has). This module runs them in order and writes the figures.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.tools.latency import QUESTIONS, cold_ask, qabot_command, startup, warm
from bot.tools.throughput import backends, build_throughput


def run(
    index_dir: Path,
    sizes: Sequence[int] = (10_000, 100_000, 1_000_000),
    repeat: int = 3,
    log: Callable[[str], None] = lambda _m: None,
    documents: int | None = None,
    load: tuple[int, int] = (50, 10),
    corpus: Path | None = None,
) -> dict[str, Any]:
    """Every measurement, as a JSON-ready dict; `load`: the Telegram load run's chats and
    questions per chat; `corpus`: a folder of documents to build, load and ask over too."""
    from bot.config import load_settings
    from bot.service import QAService
    from bot.tools import footprint
    from bot.tools.scale import scale

    settings = load_settings(index_dir=index_dir)
    log("loading the engine (building the article's index if needed)")
    service = QAService.open(settings)
    results: dict[str, Any] = {"machine": machine()}
    log("start-up")
    results["startup"] = startup(index_dir, repeat)
    log("cold ask")
    results["cold_ask"] = cold_ask(index_dir, service, repeat)
    log("warm answers")
    results["warm"] = warm(service)
    log("build throughput")
    results["build"] = build_throughput(service, settings, documents)
    log("backends: torch against torch-int8")
    results["backends"] = backends(settings, documents)
    log("REPL memory")
    repl = qabot_command("--index-dir", str(index_dir), "repl", "--json")
    results["repl_rss_mb"] = footprint.repl_rss_mb(repl, QUESTIONS[0])
    log("Telegram: the load run, paced and unpaced, and a bot process's memory")
    results["telegram"] = footprint.telegram(index_dir, *load)
    if corpus is not None:
        from bot.tools.corpusbench import corpus_build

        results["corpus"] = corpus_build(corpus, settings, qabot_command, QUESTIONS, log)
    results["scale"] = []
    for n in sizes:
        for kind in ("flat", "hnsw", "ivf"):
            log(f"scale: {kind} over {n:,} vectors")
            results["scale"].append(scale(n, kind))
    return results


def machine() -> dict[str, Any]:
    import faiss
    import torch

    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "faiss": faiss.__version__,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
