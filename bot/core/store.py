"""The index on disk: build it atomically, describe it in a manifest, load it, check it.

Layout of an index folder:

    .qabot-index         marker: qabot made this folder and may replace what it built here
    manifest.json        what was built, from what, how; names the data folder in use
    data-<build id>/     chunks.jsonl, chunks.faiss, sentences.npy
    .lock                held while a build runs

qabot writes only into a folder it created or that carries the marker, and removes only the
data and staging folders of its own builds (named by build id, holding only its own files): an
index folder pointed at a folder of the user's never costs them a file.

A build writes a new data folder under a temporary name, renames it, then replaces
manifest.json in one atomic rename. Until that last step the previous manifest and its data
stay untouched, so an interrupted build (Ctrl-C, a crash, a full disk) never leaves a broken
index and never loses the last good one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import vectors as vector_index
from bot.core.chunking import chunk_document
from bot.core.documents import load_document, read_text, slug
from bot.core.errors import IndexStoreError, SourceError
from bot.core.settings import ChunkerSettings, IndexSettings
from bot.core.types import SCHEMA_VERSION, Chunk, Manifest, Notify, Progress, SourceInfo

if TYPE_CHECKING:
    import numpy as np

    from bot.core.embedding import Embedder

MANIFEST = "manifest.json"
CHUNKS_FILE = "chunks.jsonl"
VECTORS_FILE = "chunks.faiss"
SENTENCES_FILE = "sentences.npy"
# One line per embedded text (passages, then sentences): a hash of the model and the text, so
# the next build re-embeds only what changed.
EMBED_KEYS_FILE = "embedded.keys"
MARKER = ".qabot-index"
_MARKER_TEXT = (
    "This folder holds a qabot index. qabot replaces the data-<build id> folders and\n"
    "manifest.json here when it rebuilds; it leaves everything else alone.\n"
)
_DATA_FILES = frozenset({CHUNKS_FILE, VECTORS_FILE, SENTENCES_FILE, EMBED_KEYS_FILE})
# What a build names its folders: data-20261203T093110-1a2b3c, .build-<same>.
_BUILD_FOLDER = re.compile(r"(data|\.build)-\d{8}T\d{6}-[0-9a-f]{6}")


@dataclass
class Index:
    """A loaded index: passages, their vectors, and the vectors of their sentences."""

    directory: Path
    manifest: Manifest
    chunks: list[Chunk]
    vectors: Any  # faiss.Index over chunk vectors, inner product of unit vectors
    sentence_vectors: np.ndarray
    sentence_rows: list[range] = field(default_factory=list)  # chunk i -> its sentence rows

    def sentence_text(self, chunk_row: int, k: int) -> str:
        return self.chunks[chunk_row].sentence_text(k)


# --- reading -------------------------------------------------------------------------------


def damaged(index_dir: Path, what: str) -> IndexStoreError:
    return IndexStoreError(
        f"the index in {index_dir} is damaged ({what}); rebuild it: qabot index rebuild"
    )


def read_manifest(index_dir: Path) -> Manifest | None:
    path = index_dir / MANIFEST
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(index_dir, f"cannot read {MANIFEST}: {exc}") from None
    try:
        return Manifest.from_json(raw)
    except IndexStoreError as exc:
        raise IndexStoreError(f"{exc}; rebuild it: qabot index rebuild") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise damaged(index_dir, f"{MANIFEST} is not a valid manifest: {exc}") from None


def load_index(index_dir: Path, manifest: Manifest) -> Index:
    import faiss
    import numpy as np

    data = index_dir / manifest.data_dir
    if not data.is_dir():
        raise damaged(index_dir, f"its data folder {manifest.data_dir} is missing")
    try:
        with open(data / CHUNKS_FILE, encoding="utf-8") as fh:
            chunks = [Chunk.from_dict(json.loads(line)) for line in fh]
        vectors = vector_index.prepare(faiss.read_index(str(data / VECTORS_FILE)))
        sentence_vectors = np.load(data / SENTENCES_FILE, allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise damaged(index_dir, reason[:200]) from None

    n_sentences = sum(len(c.sentences) for c in chunks)
    problems = [
        (
            len(chunks) != manifest.chunk_count,
            f"{len(chunks)} chunks, manifest says {manifest.chunk_count}",
        ),
        (vectors.ntotal != len(chunks), f"{vectors.ntotal} vectors for {len(chunks)} chunks"),
        (
            vectors.d != manifest.dimension,
            f"vectors of dimension {vectors.d}, manifest says {manifest.dimension}",
        ),
        (
            sentence_vectors.shape != (n_sentences, manifest.dimension),
            f"sentence vectors of shape {sentence_vectors.shape}",
        ),
    ]
    for bad, what in problems:
        if bad:
            raise damaged(index_dir, what)

    rows, cursor = [], 0
    for chunk in chunks:
        rows.append(range(cursor, cursor + len(chunk.sentences)))
        cursor += len(chunk.sentences)
    return Index(index_dir, manifest, chunks, vectors, sentence_vectors, rows)


def staleness(
    manifest: Manifest,
    sources: Sequence[Path],
    model: str,
    chunker: ChunkerSettings,
    index_type: str = "auto",
) -> list[str]:
    """Why the index no longer matches its sources or settings; empty when it does."""
    reasons = []
    built = {s.path: s for s in manifest.sources}
    wanted = [str(p.resolve()) for p in sources]
    if sorted(wanted) != sorted(built):
        reasons.append("the configured sources differ from the indexed ones")
    else:
        for path in wanted:
            try:
                _, digest = read_text(Path(path))
            except SourceError:
                continue  # reported by missing_sources(); the built index still answers
            if digest != built[path].sha256:
                reasons.append(f"{path} changed since the index was built")
    if manifest.model != model:
        reasons.append(f"the model changed ({manifest.model} -> {model})")
    if manifest.chunker != chunker.as_dict():
        reasons.append("the chunking settings changed")
    wanted_type = vector_index.choose(index_type, manifest.chunk_count)
    if manifest.index_type != wanted_type:
        reasons.append(f"the index type changed ({manifest.index_type} -> {wanted_type})")
    return reasons


def missing_sources(manifest: Manifest) -> list[str]:
    return [s.path for s in manifest.sources if not Path(s.path).is_file()]


# --- building ------------------------------------------------------------------------------


def claim_folder(index_dir: Path) -> None:
    """Make sure qabot may write in `index_dir`: create it (with the marker), or accept it
    when it carries the marker, holds an index built before markers existed, or is empty.
    A folder with anything else in it belongs to someone else and is refused."""
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexStoreError(f"the index folder {index_dir} is a file, not a folder")
    marker = index_dir / MARKER
    if marker.is_file():
        return
    if index_dir.is_dir() and not (index_dir / MANIFEST).is_file() and any(index_dir.iterdir()):
        raise IndexStoreError(
            f"{index_dir} is not empty and is not a qabot index; qabot will not write into "
            "it. Choose a new or empty folder for the index (--index-dir, QABOT_INDEX_DIR)"
        )
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(_MARKER_TEXT, encoding="utf-8")
    except OSError as exc:
        raise IndexStoreError(f"cannot create the index folder {index_dir}: {exc}") from None


@contextlib.contextmanager
def build_lock(index_dir: Path, notify: Notify) -> Iterator[None]:
    claim_folder(index_dir)
    with open(index_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            notify(f"waiting for another qabot to finish building the index in {index_dir} …")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_index(
    sources: Sequence[Path],
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    progress: Progress | None = None,
    notify: Notify = lambda _msg: None,
    index_type: str = "auto",
) -> Manifest:
    import faiss
    import numpy as np

    started = time.perf_counter()
    if not sources:
        raise SourceError("no documents to index")
    claim_folder(index_dir)  # before the slow part: a folder qabot may not use fails at once
    if chunker.max_tokens > embedder.max_tokens:
        raise IndexStoreError(
            f"max_chunk_tokens {chunker.max_tokens} exceeds what the model reads "
            f"({embedder.max_tokens} word pieces)"
        )
    ids: set[str] = set()
    documents = []
    for path in sources:
        doc_id = _unique(slug(Path(path).stem), ids)
        documents.append(load_document(Path(path), doc_id))

    chunks: list[Chunk] = []
    infos = []
    for doc in documents:
        doc_chunks = chunk_document(doc, embedder.count_tokens, chunker)
        chunks.extend(doc_chunks)
        infos.append(
            SourceInfo(
                path=str(doc.path.resolve()),
                doc_id=doc.doc_id,
                sha256=doc.sha256,
                bytes=len(doc.text.encode("utf-8")),
                chunks=len(doc_chunks),
            )
        )
    previous = _previous_vectors(index_dir, embedder.name)
    chunk_vectors, sentence_vectors, keys = _embed(chunks, previous, embedder, progress)

    with build_lock(index_dir, notify):
        build_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        staging = index_dir / f".build-{build_id}"
        staging.mkdir()
        try:
            with open(staging / CHUNKS_FILE, "w", encoding="utf-8") as fh:
                for chunk in chunks:
                    fh.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
            kind = vector_index.choose(index_type, len(chunks))
            faiss.write_index(vector_index.build(kind, chunk_vectors), str(staging / VECTORS_FILE))
            np.save(staging / SENTENCES_FILE, sentence_vectors, allow_pickle=False)
            (staging / EMBED_KEYS_FILE).write_text("\n".join(keys) + "\n", encoding="ascii")
            for item in staging.iterdir():
                _fsync(item)
            data_dir = f"data-{build_id}"
            os.replace(staging, index_dir / data_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        manifest = Manifest(
            schema=SCHEMA_VERSION,
            build_id=build_id,
            data_dir=data_dir,
            model=embedder.name,
            dimension=int(chunk_vectors.shape[1]),
            chunker=chunker.as_dict(),
            sources=infos,
            chunk_count=len(chunks),
            sentence_count=len(sentence_vectors),
            index_type=kind,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 3),
        )
        _atomic_write(index_dir / MANIFEST, manifest.to_json())
        _remove_unused(index_dir, keep=data_dir)
    return manifest


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(path.parent)


def _remove_unused(index_dir: Path, keep: str) -> None:
    """Old data folders and leftovers of interrupted builds; called while holding the lock.
    Only folders a build made: named by a build id and holding nothing but a build's files."""
    for item in index_dir.iterdir():
        if item.name == keep or not _BUILD_FOLDER.fullmatch(item.name):
            continue
        if item.is_dir() and not item.is_symlink() and _only_build_files(item):
            shutil.rmtree(item, ignore_errors=True)


def _only_build_files(folder: Path) -> bool:
    try:
        return all(f.is_file() and f.name in _DATA_FILES for f in folder.iterdir())
    except OSError:
        return False


def disk_size(index_dir: Path, manifest: Manifest) -> int:
    files = [index_dir / MANIFEST, *(index_dir / manifest.data_dir).glob("*")]
    return sum(f.stat().st_size for f in files if f.is_file())


# --- opening: the one entry point front ends use -------------------------------------------


def _embed_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()[:32]


def _passage_key(model: str, chunk: Chunk) -> str:
    # Tagged: a passage's vector is pooled from its parts (Embedder.encode_passages), not
    # the vector of its text read whole, which indexes of earlier versions kept.
    return _embed_key(model, f"passage pooled from its parts\0{chunk.embed_text}")


def _previous_vectors(index_dir: Path, model: str) -> dict[str, np.ndarray]:
    """The vectors of the index being replaced, by embedding key; empty when there is none
    usable (no index, another model, an index built before keys were kept, damage)."""
    import faiss
    import numpy as np

    try:
        manifest = read_manifest(index_dir)
        if manifest is None or manifest.model != model:
            return {}
        data = index_dir / manifest.data_dir
        keys = (data / EMBED_KEYS_FILE).read_text(encoding="ascii").split()
        index = vector_index.prepare(faiss.read_index(str(data / VECTORS_FILE)))
        passages = index.reconstruct_n(0, index.ntotal)
        vectors = np.concatenate([passages, np.load(data / SENTENCES_FILE, allow_pickle=False)])
    except Exception:  # a cache only: any problem means embedding everything again
        return {}
    if len(keys) != len(vectors):
        return {}
    return dict(zip(keys, vectors, strict=True))


def _embed(
    chunks: list[Chunk],
    cached: dict[str, np.ndarray],
    embedder: Embedder,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Passage vectors, sentence vectors (all passages' sentences in order) and the keys of
    both (passages first). A passage whose vector and sentence vectors are all in `cached`
    is not embedded again."""
    import numpy as np

    model = embedder.name
    parts = [c.embed_parts for c in chunks]
    # The parts before a passage's sentences (its heading) are pooled but not kept.
    first_sentence = [len(p) - len(c.sentences) for p, c in zip(parts, chunks, strict=True)]
    passage_keys = [_passage_key(model, c) for c in chunks]
    sentence_keys = [
        [_embed_key(model, text) for text in p[first:]]
        for p, first in zip(parts, first_sentence, strict=True)
    ]
    missing = [
        i
        for i, key in enumerate(passage_keys)
        if key not in cached or any(k not in cached for k in sentence_keys[i])
    ]
    groups = [parts[i] for i in missing]
    if progress:
        texts = len(set().union(*groups)) if groups else 0
        unchanged = len(chunks) - len(missing)
        reused = f", {unchanged} unchanged" if unchanged else ""
        progress.start(texts, f"Embedding {len(missing)} passages ({texts} texts){reused}")
    fresh, fresh_parts = embedder.encode_passages(
        groups, progress=progress.advance if progress else None
    )

    passages = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    sentences = []
    fresh_row = {i: j for j, i in enumerate(missing)}
    for i in range(len(chunks)):
        j = fresh_row.get(i)
        if j is None:
            passages[i] = cached[passage_keys[i]]
            sentences.append(np.stack([cached[k] for k in sentence_keys[i]]))
        else:
            passages[i] = fresh[j]
            sentences.append(fresh_parts[j][first_sentence[i] :])
    sentence_vectors = np.concatenate(sentences) if sentences else passages[:0]
    keys = passage_keys + [key for block in sentence_keys for key in block]
    return passages, sentence_vectors, keys


def open_index(
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerSettings,
    sources: Sequence[Path] | None,
    default_sources: Sequence[Path],
    settings: IndexSettings | None = None,
    progress: Progress | None = None,
    notify: Notify = lambda _msg: None,
) -> Index:
    """Load the index, building it first if it is missing and rebuilding it if it is stale.

    `sources` None means: whatever the index was built from (after `index rebuild --source`),
    or `default_sources` when there is no index yet.
    """
    settings = settings or IndexSettings()
    index_type = settings.index_type
    manifest = read_manifest(index_dir)
    if manifest is None:
        wanted = list(sources or default_sources)
        notify(f"No index in {index_dir} yet; building it from {_names(wanted)} …")
        manifest = build_index(
            wanted, index_dir, embedder, chunker, progress, notify, index_type=index_type
        )
        return load_index(index_dir, manifest)

    wanted = list(sources) if sources else [Path(s.path) for s in manifest.sources]
    gone = missing_sources(manifest)
    if gone and not sources:
        # Nothing to rebuild from: the stored passages still answer.
        notify(f"warning: {_names(gone)} no longer exists; answering from the index as built")
        reasons = []
    else:
        reasons = staleness(manifest, wanted, embedder.name, chunker, index_type)
    if reasons:
        if not settings.auto_rebuild:
            raise IndexStoreError(
                f"the index in {index_dir} is out of date ({reasons[0]}); "
                "rebuild it: qabot index rebuild"
            )
        notify(f"The index is out of date ({reasons[0]}); rebuilding …")
        manifest = build_index(
            wanted, index_dir, embedder, chunker, progress, notify, index_type=index_type
        )
    try:
        return load_index(index_dir, manifest)
    except IndexStoreError:
        # Another process may have replaced the index between our two reads: try its build.
        fresh = read_manifest(index_dir)
        if fresh is None or fresh.build_id == manifest.build_id:
            raise
        return load_index(index_dir, fresh)


def _names(paths: Sequence[Path | str]) -> str:
    return ", ".join(Path(p).name for p in paths)
