"""`qabot bench`: speed and memory, each figure next to the floor the libraries themselves
set, measured in the same run on the same machine (a ratio survives a noisy machine better
than a time does).

Floors: a bare Python process that imports sentence-transformers and faiss, loads the model
and the index, encodes one query and searches once (for a cold `ask`), and one that only
imports the libraries a cold `ask` needs (numpy, faiss, onnxruntime, tokenizers); a bare
`model.encode(query)` plus one FAISS search (for a warm answer); `model.encode` over the
same passages (for building). Both embedding backends (torch, torch-int8) build the same
corpus and answer the same questions, side by side.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.service import QAService

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
    repl = _qabot("--index-dir", str(index_dir), "repl", "--json")
    results["repl_rss_mb"] = footprint.repl_rss_mb(repl, QUESTIONS[0])
    log("Telegram: the load run, paced and unpaced, and a bot process's memory")
    results["telegram"] = footprint.telegram(index_dir, *load)
    if corpus is not None:
        from bot.tools.corpusbench import corpus_build

        results["corpus"] = corpus_build(corpus, settings, _qabot, QUESTIONS, log)
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


def _qabot(*args: str) -> list[str]:
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
        "help_s": round(_wall(_qabot("--help"), repeat), 3),
        "index_status_s": round(
            _wall(_qabot("--index-dir", str(index_dir), "index", "status"), repeat), 3
        ),
    }


def cold_ask(index_dir: Path, service: QAService, repeat: int) -> dict[str, float]:
    question = QUESTIONS[0]
    ask = _wall(_qabot("--index-dir", str(index_dir), "ask", question), repeat)
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


# Distinct real text for the build measurement. Copies of one article would flatter the
# build, which embeds a repeated sentence once.
CORPUS_DIR = Path("/usr/share/common-licenses")


def bench_corpus(limit: int | None = None) -> list[Path]:
    """The bundled article and the licence texts the system keeps (Debian's
    /usr/share/common-licenses), at most `limit` of them, each file once."""
    from bot.config import BUNDLED_DOCUMENT

    licences = []
    if CORPUS_DIR.is_dir():
        licences = sorted(p for p in CORPUS_DIR.iterdir() if p.is_file() and not p.is_symlink())
    return [BUNDLED_DOCUMENT, *licences[:limit]]


def build_throughput(
    service: QAService, settings: Settings, documents: int | None = None
) -> dict[str, Any]:
    """Build an index of the bench corpus, against `model.encode` over the same passages;
    then rebuild it after a one-sentence edit."""
    import shutil

    from bot.service import QAService, rebuild

    with tempfile.TemporaryDirectory() as tmp:
        sources = []
        for path in bench_corpus(documents):
            sources.append(Path(tmp) / path.name)
            shutil.copyfile(path, sources[-1])
        here = settings.model_copy(update={"index_dir": Path(tmp) / "index"})
        started = time.perf_counter()
        manifest = rebuild(here, sources)
        build_s = time.perf_counter() - started
        chunks = QAService.open(here.model_copy(update={"sources": sources})).engine.index.chunks
        # A small edit: one sentence of the article. Only its passage re-embeds.
        article = sources[0].read_text(encoding="utf-8")
        sources[0].write_text(
            article.replace("unlikely warming", "surprising warming", 1), encoding="utf-8"
        )
        started = time.perf_counter()
        rebuild(here, sources)
        rebuild_s = time.perf_counter() - started
    texts = [c.embed_text for c in chunks]
    embedder = service.engine.embedder
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=embedder.batch_size)
    encode_s = time.perf_counter() - started
    build_rate, encode_rate = len(chunks) / build_s, len(chunks) / encode_s
    return {
        "documents": [p.name for p in sources],
        "passages": len(chunks),
        "sentences": manifest.sentence_count,
        "build_s": round(build_s, 2),
        "encode_s": round(encode_s, 2),
        "build_passages_per_s": round(build_rate, 1),
        "encode_passages_per_s": round(encode_rate, 1),
        "ratio": round(build_rate / encode_rate, 2),
        "rebuild_after_edit_s": round(rebuild_s, 2),
        "rebuild_ratio": round(rebuild_s / build_s, 3),
    }


def backends(settings: Settings, documents: int | None = None) -> dict[str, Any]:
    """Each embedding backend on the bench corpus: build time, warm answers against their
    floor, and how far int8's passage vectors stray from the default's."""
    from bot.service import QAService, preload_model, rebuild

    rows, passages = [], []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = bench_corpus(documents)
        for backend in ("torch", "torch-int8"):
            here = settings.model_copy(
                update={"backend": backend, "index_dir": Path(tmp) / backend, "sources": corpus}
            )
            preload_model(here)  # loading and quantising are not building
            started = time.perf_counter()
            manifest = rebuild(here)
            build_s = time.perf_counter() - started
            service = QAService.open(here)
            vectors = service.engine.index.vectors
            passages.append(vectors.reconstruct_n(0, vectors.ntotal))
            answers = warm(service, rounds=5)
            rows.append(
                {
                    "backend": backend,
                    "passages": manifest.chunk_count,
                    "build_s": round(build_s, 2),
                    "answer_p50_ms": answers["p50_ms"],
                    "floor_p50_ms": answers["floor_p50_ms"],
                }
            )
    cosines = (passages[0] * passages[1]).sum(axis=1)
    return {
        "rows": rows,
        "passage_cosine_mean": round(float(cosines.mean()), 3),
        "passage_cosine_min": round(float(cosines.min()), 3),
    }


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
