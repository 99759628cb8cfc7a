"""How fast an index builds (`qabot bench`): the bench corpus built against a bare
`model.encode` over the same passages, rebuilt after a one-sentence edit, and built by each
embedding backend (torch, torch-int8) side by side, with their warm answers.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.tools.latency import warm

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.service import QAService


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
