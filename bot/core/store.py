"""The index on disk: its layout, reading its manifest, loading it, checking it, and opening
it (building it first when missing or stale: bot.core.build).

Layout of an index folder:

    .qabot-index         marker: qabot made this folder and may replace what it built here
    manifest.json        what was built, from what, how; names the data folder in use
    data-<build id>/     chunks.jsonl (with chunks.rows.npy, where each line starts),
                         chunks.faiss, sentences.npy, embedded.keys, bm25.*, and
                         documents.jsonl (each document's text as qabot read it)
    .lock                held while a build runs
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core import vectors as vector_index
from bot.core.errors import IndexStoreError, SourceError
from bot.core.integrity import verify
from bot.core.lexical import BM25_FILES
from bot.core.passages import Passages, rows_table
from bot.core.settings import ChunkerSettings, IndexSettings
from bot.core.sources import is_url, source_digest, source_keys
from bot.core.types import Manifest, Notify, Progress

if TYPE_CHECKING:
    import numpy as np

    from bot.core.embedding import Embedder

MANIFEST = "manifest.json"
CHUNKS_FILE = "chunks.jsonl"
# Where each passage's line starts in chunks.jsonl and its first sentence row: start-up reads
# this table, not every passage (bot.core.passages).
ROWS_FILE = "chunks.rows.npy"
VECTORS_FILE = "chunks.faiss"
# The passage vectors again, as a plain matrix: the next build reads the ones it can reuse
# from here, a row at a time, instead of loading the whole vector index (0.8 GB at 450,000
# passages) to copy them out of it.
PASSAGES_FILE = "chunks.vectors.npy"
SENTENCES_FILE = "sentences.npy"
# One line per embedded text (passages, then sentences): a hash of the model and the text, so
# the next build re-embeds only what changed.
EMBED_KEYS_FILE = "embedded.keys"
# Each document's text as qabot read it (what citations quote, whatever the format), so a
# web page is not fetched again to rebuild and every offset can be checked against its text.
DOCUMENTS_FILE = "documents.jsonl"
MARKER = ".qabot-index"
# Written during a build, gone before its folder is swapped in.
SENTENCE_KEYS_TEMP = "sentence.keys.tmp"
DATA_FILES = frozenset(
    {
        CHUNKS_FILE,
        ROWS_FILE,
        VECTORS_FILE,
        PASSAGES_FILE,
        SENTENCES_FILE,
        EMBED_KEYS_FILE,
        DOCUMENTS_FILE,
    }
    | set(BM25_FILES.values())
)


@dataclass
class Index:
    """A loaded index: passages, their vectors, and the vectors of their sentences."""

    directory: Path
    manifest: Manifest
    chunks: Passages
    vectors: Any  # faiss.Index over chunk vectors, inner product of unit vectors
    sentence_vectors: np.ndarray

    def sentence_text(self, chunk_row: int, k: int) -> str:
        return self.chunks[chunk_row].sentence_text(k)

    def rows_of(self, document: str) -> range:
        """The rows of one document's passages (a build stores them side by side), found by
        its name, its id, or its path or URL; QuestionError naming the documents if none."""
        from bot.core.errors import QuestionError

        sources = self.manifest.sources
        wanted = [i for i, s in enumerate(sources) if document in (s.name, s.doc_id, s.path)]
        if len(wanted) != 1 or not sources[wanted[0]].chunks:
            names = ", ".join(s.name or s.doc_id for s in sources)
            raise QuestionError(f"no document called {document!r} in the index; it holds {names}")
        # A build writes the documents' passages side by side, in the manifest's order.
        first = sum(s.chunks for s in sources[: wanted[0]])
        return range(first, first + sources[wanted[0]].chunks)

    def row_of(self, chunk_id: str) -> int | None:
        """The row of passage `chunk_id` ("<doc>#p<first>..."), or None: found by bisection,
        as a document's passages are stored in the order of their first paragraph, so a
        large index parses a few passages, not all of them."""
        import bisect

        from bot.core.errors import QuestionError

        doc, _, rest = chunk_id.partition("#p")
        digits = re.match(r"\d+", rest)
        if not digits:
            return None
        try:
            rows = self.rows_of(doc)
        except QuestionError:
            return None
        first = int(digits.group())
        i = bisect.bisect_left(rows, first, key=lambda row: self.chunks[row].paragraphs[0])
        while i < len(rows) and self.chunks[rows[i]].paragraphs[0] == first:
            if self.chunks[rows[i]].id == chunk_id:
                return rows[i]
            i += 1
        return None


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
    except NotADirectoryError:
        raise IndexStoreError(f"{index_dir} is a file, not an index folder") from None
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
    problem = verify(data, manifest.files, full=False)
    if problem:
        raise damaged(index_dir, problem)
    try:
        if (data / ROWS_FILE).is_file():
            table = np.load(data / ROWS_FILE, allow_pickle=False)
        else:  # built before the table was kept: read every line once
            with open(data / CHUNKS_FILE, encoding="utf-8") as fh:
                table = rows_table(fh)
        chunks = Passages(data / CHUNKS_FILE, table)
        vectors = vector_index.prepare(faiss.read_index(str(data / VECTORS_FILE)))
        # Mapped, not read: an answer touches the sentences of a few passages, and a large
        # corpus's sentence vectors need not all sit in memory.
        sentence_vectors = np.load(data / SENTENCES_FILE, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise damaged(index_dir, reason[:200]) from None

    n_sentences = int(table[-1, 1]) if table.ndim == 2 and table.shape[1] == 2 else -1
    problems = [
        (
            table.ndim != 2
            or table.shape[1] != 2
            or len(table) < 2
            or table[-1, 0] != chunks.file_size,
            f"{ROWS_FILE} does not match {CHUNKS_FILE}",
        ),
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

    return Index(index_dir, manifest, chunks, vectors, sentence_vectors)


def staleness(
    manifest: Manifest,
    sources: Sequence[str | Path],
    model: str,
    chunker: ChunkerSettings,
    index_type: str = "auto",
) -> list[str]:
    """Why the index no longer matches its sources or settings; empty when it does."""
    reasons = []
    built = {s.path: s for s in manifest.sources}
    wanted = [key for key in source_keys(sources) if key not in manifest.skipped]
    if sorted(wanted) != sorted(built):
        reasons.append("the configured sources differ from the indexed ones")
    else:
        for path in wanted:
            if is_url(path):
                continue  # a web page is read when added; checking it would need the network
            try:
                digest = source_digest(path)
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
    return [s.path for s in manifest.sources if not is_url(s.path) and not Path(s.path).is_file()]


def disk_size(index_dir: Path, manifest: Manifest) -> int:
    files = [index_dir / MANIFEST, *(index_dir / manifest.data_dir).glob("*")]
    return sum(f.stat().st_size for f in files if f.is_file())


# --- opening -------------------------------------------------------------------------------


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
    from bot.core.build import build_index  # the writing side imports this module

    settings = settings or IndexSettings()
    index_type = settings.index_type
    manifest = read_manifest(index_dir)
    if manifest is None and not sources and any(index_dir.glob("data-*")):
        # Built here before and its manifest lost: building the default document in its
        # place would quietly replace the user's documents with another.
        raise IndexStoreError(
            f"the index in {index_dir} has lost its {MANIFEST}; build it again from your "
            "documents: qabot index rebuild --source FILE (or qabot index add FILE …)"
        )
    if manifest is None:
        wanted = list(sources or default_sources)
        notify(f"No index in {index_dir} yet; building it from {_names(wanted)} …")
        manifest = build_index(
            wanted, index_dir, embedder, chunker, progress, notify, index_type=index_type
        )
        return load_index(index_dir, manifest)

    wanted = list(sources) if sources else [s.path for s in manifest.sources]
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
