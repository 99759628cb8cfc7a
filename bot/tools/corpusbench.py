"""`qabot bench --corpus FOLDER`: building, loading and answering over a folder of many
documents, each figure next to the same measure for the bundled article alone or the
library floor, measured in the same run.

Each build runs as its own `qabot index add` process, so its wall time and peak memory are
the process's own (`os.wait4`), as a user would see them.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings

SAMPLE = 2000  # passages the encode floor is timed on: the rate, not the whole corpus again


def measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one run of `command`; CalledProcessError if it
    fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    error = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, command, stderr=error)
    return wall, usage.ru_maxrss / 1024  # kilobytes on Linux


def corpus_build(
    folder: Path,
    settings: Settings,
    qabot: Callable[..., list[str]],
    questions: Sequence[str],
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    from bot.config import BUNDLED_DOCUMENT
    from bot.service import QAService

    with tempfile.TemporaryDirectory() as tmp:
        one, every = Path(tmp) / "one", Path(tmp) / "all"
        log("corpus: the bundled article alone, for the memory a build needs anyway")
        _, one_mb = measured(
            qabot("--index-dir", str(one), "index", "rebuild", "--source", str(BUNDLED_DOCUMENT))
        )
        log(f"corpus: every document in {folder}")
        build_s, build_mb = measured(qabot("--index-dir", str(every), "index", "add", str(folder)))
        log("corpus: cold and warm answers")
        cold_one = _median_wall(qabot("--index-dir", str(one), "ask", questions[0]))
        cold_all = _median_wall(qabot("--index-dir", str(every), "ask", questions[0]))
        service = QAService.open(settings.model_copy(update={"index_dir": every}))
        manifest = service.engine.index.manifest
        texts = _sample(service.engine.index.chunks)
        warm_p50 = _warm_p50(service, questions)
        model = service.engine.embedder.model
        model.encode(texts[:32])  # the first call sets up what the build's had set up
        started = time.perf_counter()
        model.encode(texts, batch_size=service.engine.embedder.batch_size)
        encode_rate = len(texts) / (time.perf_counter() - started)
    passages = manifest.chunk_count
    text_mb = sum(s.bytes for s in manifest.sources) / 2**20
    build_rate = passages / build_s
    return {
        "folder": str(folder),
        "documents": len(manifest.sources),
        "left_out": len(manifest.skipped),
        "text_mb": round(text_mb, 2),
        "passages": passages,
        "build_s": round(build_s, 1),
        "build_passages_per_s": round(build_rate, 1),
        "encode_passages_per_s": round(encode_rate, 1),
        "ratio": round(build_rate / encode_rate, 2),
        "peak_mb": round(build_mb),
        "one_document_peak_mb": round(one_mb),
        "over_one_document_mb": round(build_mb) - round(one_mb),
        "cold_ask_s": round(cold_all, 2),
        "cold_ask_one_document_s": round(cold_one, 2),
        "cold_ratio": round(cold_all / cold_one, 2),
        "warm_p50_ms": round(warm_p50, 2),
    }


def _sample(chunks: Sequence[Any]) -> list[str]:
    """About SAMPLE passages spread evenly through the corpus, as the build embeds them."""
    step = max(1, len(chunks) // SAMPLE)
    return [chunks[i].embed_text for i in range(0, len(chunks), step)]


def _median_wall(command: list[str], runs: int = 3) -> float:
    subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _warm_p50(service: Any, questions: Sequence[str], rounds: int = 20) -> float:
    for q in questions:
        service.ask(q)
    times = []
    for _ in range(rounds):
        for q in questions:
            started = time.perf_counter()
            service.ask(q)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
