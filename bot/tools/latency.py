"""How long a question takes, each figure next to the floor the libraries themselves set,
measured in the same run on the same machine (`qabot bench`).

Start-up (`qabot --help`, `qabot index status`) and a cold `qabot ask` are timed as
processes, the median of several runs; the cold ask's floors are a bare Python process that
loads the model and the index, encodes one query and searches once, and one that only
imports the libraries a cold `ask` needs. Warm answers are timed in this process against a
bare `model.encode(query)` plus one FAISS search.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.service import QAService

# About the bundled article, one of them (France) not: what every answer measurement asks.
QUESTIONS = (
    "Who is China's ambassador to Japan?",
    "How big is Japan's trade surplus with the US?",
    "Which university does Koichi Nakano teach at?",
    "When did relations between Japan and China start to warm?",
    "Which islands do China and Japan both claim?",
    "What did Trump claim China was meddling in?",
    "Where does Richard McGregor work?",
    "What is the capital of France?",
    "Which metals were hit by the tariffs?",
    "Who is honoured at the Yasukuni Shrine?",
    "How old is Xi Jinping?",
    "Why is Japan worried about the trade war?",
)

_COLD_FLOOR = """
import sys, faiss
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
index = faiss.read_index(sys.argv[2])
vector = model.encode([sys.argv[3]], normalize_embeddings=True)
index.search(vector, 5)
"""


# The libraries a cold `ask` cannot do without, imported and nothing more: what start-up
# would cost if qabot itself cost nothing (a cold ask's target is a multiple of it).
_IMPORT_FLOOR = "import numpy, faiss, onnxruntime, tokenizers"


def qabot_command(*args: str) -> list[str]:
    """A `qabot` command line run as a fresh process of this Python."""
    return [sys.executable, "-m", "bot", *args]


def _wall(command: list[str], repeat: int) -> float:
    """Median wall time of a command, in seconds, over at least three runs after one untimed
    run (which fills the system's file cache: what a first run costs is the disk's business)."""
    times = []
    for i in range(max(repeat, 3) + 1):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL)
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def startup(index_dir: Path, repeat: int) -> dict[str, float]:
    return {
        "help_s": round(_wall(qabot_command("--help"), repeat), 3),
        "index_status_s": round(
            _wall(qabot_command("--index-dir", str(index_dir), "index", "status"), repeat), 3
        ),
    }


def cold_ask(index_dir: Path, service: QAService, repeat: int) -> dict[str, float]:
    question = QUESTIONS[0]
    ask = _wall(qabot_command("--index-dir", str(index_dir), "ask", question), repeat)
    floor_command = [
        sys.executable,
        "-c",
        _COLD_FLOOR,
        service.model_path,
        str(service.vectors_path),
        question,
    ]
    floor = _wall(floor_command, repeat)
    imports = _wall([sys.executable, "-c", _IMPORT_FLOOR], repeat)
    return {
        "ask_s": round(ask, 3),
        "floor_s": round(floor, 3),
        "ratio": round(ask / floor, 2),
        "import_floor_s": round(imports, 3),
        "import_ratio": round(ask / imports, 2),
    }


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def warm(service: QAService, rounds: int = 10) -> dict[str, float]:
    questions = list(QUESTIONS) * rounds
    for q in QUESTIONS:  # first sight of each question's passages fills the word cache
        service.ask(q)
    answer_ms = []
    for q in questions:
        started = time.perf_counter()
        service.ask(q)
        answer_ms.append((time.perf_counter() - started) * 1000)
    # The floor: the libraries themselves, the model's encode and one FAISS search.
    model, vectors = service.engine.embedder.model, service.engine.index.vectors
    floor_ms = []
    for q in questions:
        started = time.perf_counter()
        vector = model.encode([q], normalize_embeddings=True, convert_to_numpy=True)
        vectors.search(vector, service.answer_settings.top_k)
        floor_ms.append((time.perf_counter() - started) * 1000)
    p50, p95 = _percentiles(answer_ms)
    floor50, floor95 = _percentiles(floor_ms)
    return {
        "questions": len(questions),
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "floor_p50_ms": round(floor50, 2),
        "floor_p95_ms": round(floor95, 2),
        "ratio_p50": round(p50 / floor50, 2),
    }
