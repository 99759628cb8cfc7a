"""The index on disk: its layout, reading its manifest, loading it, checking it, and opening
it (building it first when missing or stale: bot.core.index.build).

Layout of an index folder:

    .qabot-index         marker: qabot made this folder and may replace what it built here
    manifest.json        what was built, from what, how; names the data folder in use;
                         every data file's checksum, and its own (bot.core.index.integrity)
    data-<build id>/     chunks.jsonl (with chunks.rows.npy, where each line starts, and
                         chunks.sums.npy, each line's checksum), chunks.faiss,
                         sentences.npy, embedded.keys, bm25.*, and documents.jsonl (each
                         document's text as qabot read it)
    .lock                held while a build runs

Nothing is trusted that a build did not write: a manifest is read only whole and intact
(read_manifest), a folder whose manifest.json is not qabot's is never taken for an index, and
a passage is quoted only when it matches the checksum its build recorded (CheckedPassages).
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.errors import IndexStoreError
from bot.core.index import vectors as vector_index
from bot.core.index.integrity import (
    PASSAGE_DIGEST_BYTES,
    ManifestError,
    looks_like_a_manifest,
    parse_manifest,
    passage_digest,
    verify,
)
from bot.core.index.integrity import manifest_text as _manifest_text
from bot.core.index.lexical import LEXICAL_FILES
from bot.core.index.passages import Passages
from bot.core.types import Chunk, Manifest

if TYPE_CHECKING:
    import numpy as np


MANIFEST = "manifest.json"
CHUNKS_FILE = "chunks.jsonl"
# Where each passage's line starts in chunks.jsonl and its first sentence row: start-up reads
# this table, not every passage (bot.core.index.passages).
ROWS_FILE = "chunks.rows.npy"
# Each passage's checksum (integrity.passage_digest of its line), checked whenever the
# passage is read: an edit that keeps chunks.jsonl's size is never quoted, however large the
# index (its files are hashed whole at load only up to integrity.VERIFY_LIMIT).
SUMS_FILE = "chunks.sums.npy"
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
        SUMS_FILE,
        VECTORS_FILE,
        PASSAGES_FILE,
        SENTENCES_FILE,
        EMBED_KEYS_FILE,
        DOCUMENTS_FILE,
    }
    | LEXICAL_FILES
)
# What every build writes and every manifest must hold the checksum of (BM25's files vary
# with its method, and a missing one is built again from the passages).
REQUIRED_FILES = DATA_FILES - LEXICAL_FILES
# Read whole at every load, so hashed at every load whatever the index's size.
ALWAYS_HASHED = frozenset({ROWS_FILE, SUMS_FILE})


@dataclass
class Index:
    """A loaded index: passages, their vectors, and the vectors of their sentences, all
    memory-mapped: opening an index reads none of them."""

    directory: Path
    manifest: Manifest
    chunks: Passages
    vectors: Any  # faiss.Index over chunk vectors, inner product of unit vectors
    sentence_vectors: np.ndarray
    # The same passage vectors as a matrix, a row each: one passage's vector without asking
    # the FAISS index to reconstruct it (an IVF index would need a map of every row first).
    passage_vectors: np.ndarray

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


class IndexDamaged(IndexStoreError):
    """The index is damaged: the message says how to rebuild it, `what` what is wrong."""

    def __init__(self, message: str, what: str):
        super().__init__(message)
        self.what = what


def damaged(index_dir: Path, what: str) -> IndexDamaged:
    return IndexDamaged(
        f"the index in {index_dir} is damaged ({what}); rebuild it: qabot index rebuild", what
    )


def _damaged_manifest(index_dir: Path, what: str) -> IndexDamaged:
    # Its list of documents cannot be trusted either: the rebuild names them.
    what = f"{MANIFEST}: {what}"
    return IndexDamaged(
        f"the index in {index_dir} is damaged ({what}); rebuild it from your documents: "
        "qabot index rebuild --source FILE (or qabot index add FILE …)",
        what,
    )


def foreign_manifest(index_dir: Path) -> IndexStoreError:
    return IndexStoreError(
        f"{index_dir} holds a {MANIFEST} that is not a qabot index; choose another --index-dir"
    )


def manifest_text(manifest: Manifest) -> str:
    """manifest.json as a build writes it: checked as every reader checks it, and sealed by
    its own checksum."""
    return _manifest_text(manifest, REQUIRED_FILES)


def check_folder_name(index_dir: Path) -> None:
    """IndexStoreError when the folder's name is not UTF-8: FAISS takes file names as UTF-8
    text, so an index there could be neither written nor read."""
    try:
        str(index_dir).encode("utf-8")
    except UnicodeEncodeError:
        from bot.core.documents.sources import shown

        raise IndexStoreError(
            f"the index folder {shown(index_dir)} has a name that is not UTF-8 text, which "
            "FAISS cannot open; choose another (--index-dir, QABOT_INDEX_DIR)"
        ) from None


def read_manifest(index_dir: Path) -> Manifest | None:
    """The index's manifest, checked whole (integrity.parse_manifest); None when there
    is none. IndexDamaged when it is damaged in any way; IndexStoreError when the folder is a
    file, or holds a manifest.json that is not qabot's (no marker, and not an index built
    before markers existed)."""
    check_folder_name(index_dir)
    path = index_dir / MANIFEST
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise IndexStoreError(f"{index_dir} is a file, not an index folder") from None
    except OSError as exc:
        raise _damaged_manifest(index_dir, f"it cannot be read ({exc.strerror})") from None
    if not (index_dir / MARKER).is_file() and not adoptable(index_dir):
        raise foreign_manifest(index_dir)
    if not stat.S_ISREG(info.st_mode):
        raise _damaged_manifest(index_dir, "it is not a plain file")
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _damaged_manifest(index_dir, f"it cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise _damaged_manifest(index_dir, "it is not UTF-8 text") from None
    try:
        return parse_manifest(raw, REQUIRED_FILES)
    except ManifestError as exc:
        raise _damaged_manifest(index_dir, str(exc)) from None


def adoptable(index_dir: Path) -> bool:
    """Whether the manifest.json in `index_dir` (a folder without qabot's marker) is an index
    qabot built before markers existed: a plain file, with qabot's marks, its data folder
    beside it. Anything else is someone else's file, never replaced."""
    path = index_dir / MANIFEST
    try:
        if path.is_symlink() or not path.is_file():
            return False
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not looks_like_a_manifest(raw):
        return False
    data = index_dir / json.loads(raw)["data_dir"]
    return data.is_dir() and not data.is_symlink()


def write_passage_sums(folder: Path) -> None:
    """chunks.sums.npy in a build's data folder: the checksum of each passage's line of
    chunks.jsonl, by the table of where each line starts (a build writes it once both are
    written)."""
    import mmap

    import numpy as np

    table = np.load(folder / ROWS_FILE, allow_pickle=False)
    sums = np.zeros((len(table) - 1, PASSAGE_DIGEST_BYTES), dtype=np.uint8)
    with open(folder / CHUNKS_FILE, "rb") as fh:
        size = fh.seek(0, 2)
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            for row in range(len(sums)):
                start, end = int(table[row, 0]), int(table[row + 1, 0])
                sums[row] = np.frombuffer(passage_digest(data[start:end]), dtype=np.uint8)
        finally:
            if isinstance(data, mmap.mmap):
                data.close()
    np.save(folder / SUMS_FILE, sums, allow_pickle=False)


class CheckedPassages(Passages):
    """The passages of chunks.jsonl, each checked against the checksum its build recorded when
    it is read: damage anywhere in a passage, whatever the file's size, is reported, never
    quoted."""

    def __init__(self, path: Path, table: np.ndarray, sums: np.ndarray, index_dir: Path):
        super().__init__(path, table)
        self.sums = sums
        self.index_dir = index_dir

    def _read(self, row: int) -> Chunk:
        start, end = int(self.table[row, 0]), int(self.table[row + 1, 0])
        if passage_digest(self._data[start:end]) != self.sums[row].tobytes():
            raise damaged(self.index_dir, f"passage {row} does not match its checksum")
        return super()._read(row)


def data_damage(index_dir: Path, manifest: Manifest) -> str | None:
    """What is wrong with the index's data, every file hashed (None: nothing): what
    `index status` reports."""
    try:
        _checked_tables(index_dir, manifest, full=True)
    except IndexDamaged as exc:
        return exc.what
    return None


@dataclass(frozen=True)
class _Tables:
    """What loading reads of a build's data besides the FAISS index, checked."""

    rows: np.ndarray  # where each passage's line starts, and its first sentence row
    sums: np.ndarray  # each passage's checksum
    sentence_vectors: np.ndarray  # mapped
    passage_vectors: np.ndarray  # mapped


def _checked_tables(index_dir: Path, manifest: Manifest, full: bool) -> _Tables:
    """The data files against their checksums (`full`: all hashed), then the passages' table,
    their checksums and the vectors (mapped) against the manifest; IndexDamaged."""
    import numpy as np

    data = index_dir / manifest.data_dir
    if data.is_symlink() or not data.is_dir():
        raise damaged(index_dir, f"its data folder {manifest.data_dir} is missing")
    problem = verify(data, manifest.files, full, required=REQUIRED_FILES, always=ALWAYS_HASHED)
    if problem:
        raise damaged(index_dir, problem)
    try:
        table = np.load(data / ROWS_FILE, allow_pickle=False)
        sums = np.load(data / SUMS_FILE, allow_pickle=False)
        # Mapped, not read: an answer touches the vectors of a few passages and their
        # sentences, and a large corpus's vectors need not all sit in memory.
        sentence_vectors = np.load(data / SENTENCES_FILE, allow_pickle=False, mmap_mode="r")
        passage_vectors = np.load(data / PASSAGES_FILE, allow_pickle=False, mmap_mode="r")
        chunks_size = (data / CHUNKS_FILE).stat().st_size
    except (OSError, ValueError, EOFError) as exc:
        raise damaged(index_dir, _reason(exc)) from None
    n, dimension = manifest.chunk_count, manifest.dimension
    table_fits = (
        table.dtype == np.int64
        and table.shape == (n + 1, 2)
        and table[0, 0] == table[0, 1] == 0
        and table[-1, 0] == chunks_size
        and table[-1, 1] == manifest.sentence_count
        and bool((np.diff(table[:, 0]) > 0).all())
        and bool((np.diff(table[:, 1]) >= 0).all())
    )
    problems = [
        (not table_fits, f"{ROWS_FILE} does not match {CHUNKS_FILE} and the manifest"),
        (
            sums.dtype != np.uint8 or sums.shape != (n, PASSAGE_DIGEST_BYTES),
            f"{SUMS_FILE} holds {sums.shape[0] if sums.ndim else 0} checksums for {n} passages",
        ),
        (
            sentence_vectors.shape != (manifest.sentence_count, dimension),
            f"sentence vectors of shape {sentence_vectors.shape}, manifest says "
            f"({manifest.sentence_count}, {dimension})",
        ),
        (
            passage_vectors.shape != (n, dimension) or passage_vectors.dtype != np.float32,
            f"passage vectors of shape {passage_vectors.shape}, manifest says ({n}, {dimension})",
        ),
    ]
    for bad, what in problems:
        if bad:
            raise damaged(index_dir, what)
    return _Tables(table, sums, sentence_vectors, passage_vectors)


def _reason(exc: BaseException) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return reason[:200]


def load_index(index_dir: Path, manifest: Manifest) -> Index:
    """The index `manifest` describes, its data checked first (sizes, and hashes as
    integrity.verify does at load); each passage is checked again when it is read."""
    tables = _checked_tables(index_dir, manifest, full=False)
    data = index_dir / manifest.data_dir
    try:
        chunks = CheckedPassages(data / CHUNKS_FILE, tables.rows, tables.sums, index_dir)
        vectors = vector_index.read(data / VECTORS_FILE)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise damaged(index_dir, _reason(exc)) from None
    problems = [
        (vectors.ntotal != len(chunks), f"{vectors.ntotal} vectors for {len(chunks)} chunks"),
        (
            vectors.d != manifest.dimension,
            f"vectors of dimension {vectors.d}, manifest says {manifest.dimension}",
        ),
    ]
    for bad, what in problems:
        if bad:
            raise damaged(index_dir, what)
    return Index(
        index_dir, manifest, chunks, vectors, tables.sentence_vectors, tables.passage_vectors
    )


def disk_size(index_dir: Path, manifest: Manifest) -> int:
    files = [index_dir / MANIFEST, *(index_dir / manifest.data_dir).glob("*")]
    return sum(f.stat().st_size for f in files if f.is_file())


# --- opening -------------------------------------------------------------------------------
