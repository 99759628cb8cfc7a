"""Writing a build as its documents are read, so a build's memory does not grow with the text
of the corpus.

Each document goes to the database as it is read (its row in `documents`, its passages in
`passages`, with their checksums and embedding keys); what stays in memory per passage is a
bit saying whether it needs embedding and its search terms as integers. Embedding then reads
the passages back a batch at a time, and writes their vectors to the data folder, from where
the vector index is built a block at a time. What must be whole in memory is the vector index
itself and the term ids of each passage, which BM25 is built from.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.index import vectors as vector_index
from bot.core.index.embedcache import KEY_CHARS, VectorCache, embed_key, passage_key
from bot.core.index.integrity import document_digest, passage_digest
from bot.core.index.lexical import Lexicon
from bot.core.index.passages import chunk_body
from bot.core.index.rowfile import RowReader, RowWriter
from bot.core.index.schema import transaction
from bot.core.index.snapshot import PASSAGES_FILE, SENTENCES_FILE, VECTORS_FILE, manifest_text
from bot.core.types import Chunk, Document, Manifest, Progress, SourceInfo

if TYPE_CHECKING:
    from bot.core.index.embedding import Embedder

EMBED_BATCH = 2048  # passages embedded per round: what is held at once, whatever the corpus


@dataclass(frozen=True)
class Written:
    index_type: str
    passages: int
    sentences: int
    dimension: int


class DataWriter:
    """A build's rows in the database, added one document at a time (`add`, inside the
    caller's transaction), then embedded and indexed into its data folder (`finish`). Only
    the folder's own files are written; the caller commits the build."""

    def __init__(
        self,
        folder: Path,
        db: sqlite3.Connection,
        build: str,
        embedder: Embedder,
        cached: VectorCache,
    ):
        self.folder = folder
        self.db = db
        self.build = build
        self.embedder = embedder
        self.cached = cached
        self.passages = 0
        self.sentences = 0
        self._documents = 0
        self._fresh = bytearray()  # 1 for a passage whose vectors are not all in the cache
        self._texts = 0  # distinct texts the fresh passages need embedded
        self.lexicon = Lexicon()

    def add_all(
        self, documents: Iterable[tuple[Document, list[Chunk], SourceInfo]]
    ) -> list[SourceInfo]:
        """Write each document as it comes (one in memory at a time); what the build record
        keeps of each."""
        infos = []
        for doc, chunks, info in documents:
            self.add(doc, chunks)
            infos.append(info)
        return infos

    def add(self, doc: Document, chunks: list[Chunk]) -> None:
        insert_document(self.db, self.build, self._documents, document_row(doc))
        self._documents += 1
        model = self.embedder.name
        for chunk in chunks:
            body, count = chunk_body(chunk), len(chunk.sentences)
            key = passage_key(model, chunk)
            sentence_keys = [embed_key(model, chunk.sentence_text(k)) for k in range(count)]
            row, first = self.passages, self.sentences
            self.db.execute(
                "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.build,
                    row,
                    first,
                    count,
                    body,
                    passage_digest(row, first, count, body),
                    "".join([key, *sentence_keys]).encode("ascii"),
                ),
            )
            self.passages += 1
            self.sentences += count
            fresh = key not in self.cached or any(k not in self.cached for k in sentence_keys)
            self._fresh.append(fresh)
            if fresh:
                self._texts += len(set(chunk.embed_parts))
            self.lexicon.add(chunk.embed_text)

    def finish(self, progress: Progress | None, index_type: str) -> Written:
        """Embed what the cache lacks, then write the vectors, the vector index and BM25."""
        import faiss

        count = self.sentences
        if progress:
            fresh = sum(self._fresh)
            unchanged = self.passages - fresh
            reused = f", {unchanged} unchanged" if unchanged else ""
            progress.start(self._texts, f"Embedding {fresh} passages ({self._texts} texts){reused}")
        dimension = self.embedder.dimension
        sentences = RowWriter(self.folder / SENTENCES_FILE, (count, dimension))
        passages = RowWriter(self.folder / PASSAGES_FILE, (self.passages, dimension))
        try:
            self._embed(passages, sentences, progress)
        finally:
            sentences.close()
            passages.close()
        kind = vector_index.choose(index_type, self.passages)
        index = vector_index.build(kind, RowReader(self.folder / PASSAGES_FILE))
        faiss.write_index(index, str(self.folder / VECTORS_FILE))
        del index
        self.lexicon.build().save(self.folder)
        return Written(kind, self.passages, count, self.embedder.dimension)

    def _embed(
        self, passages: RowWriter, sentences_out: RowWriter, progress: Progress | None
    ) -> None:
        pending: list[tuple[int, int, Chunk]] = []
        rows = self.db.execute(
            "SELECT row, first_sentence, body, keys FROM passages WHERE build = ? ORDER BY row",
            (self.build,),
        )
        for row, first, body, keys in rows:
            chunk = Chunk.from_dict(json.loads(body))
            if self._fresh[row]:
                pending.append((row, first, chunk))
                if len(pending) == EMBED_BATCH:
                    self._encode(pending, passages, sentences_out, progress)
                    pending = []
                continue
            keys = keys.decode("ascii")
            passages[row] = self.cached[keys[:KEY_CHARS]]
            for k in range(len(chunk.sentences)):
                at = (k + 1) * KEY_CHARS
                sentences_out[first + k] = self.cached[keys[at : at + KEY_CHARS]]
        if pending:
            self._encode(pending, passages, sentences_out, progress)

    def _encode(
        self,
        batch: list[tuple[int, int, Chunk]],
        passages: Any,
        sentences_out: Any,
        progress: Progress | None,
    ) -> None:
        parts = [chunk.embed_parts for _, _, chunk in batch]
        vectors, part_vectors = self.embedder.encode_passages(
            parts, progress=progress.advance if progress else None
        )
        for j, (row, first, chunk) in enumerate(batch):
            # The parts before a passage's sentences (its heading) are pooled, not kept.
            skip = len(parts[j]) - len(chunk.sentences)
            passages[row] = vectors[j]
            sentences_out[first : first + len(chunk.sentences)] = part_vectors[j][skip:]


def document_row(doc: Document) -> tuple[str, ...]:
    """What the database keeps of a document (its paragraphs are read again from the text),
    in the order of the `documents` table's columns after (build, seq)."""
    pages = json.dumps(list(doc.pages))
    return (doc.source, doc.doc_id, doc.name, doc.format, doc.sha256, pages, doc.title, doc.text)


def insert_document(db: sqlite3.Connection, build: str, seq: int, fields: tuple[str, ...]) -> None:
    db.execute(
        "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (build, seq, *fields, document_digest(fields)),
    )


def commit(db: sqlite3.Connection, manifest: Manifest) -> None:
    """Make `manifest`'s build the current one: the commit point of a build. The build it
    replaces keeps its passages (a process answering from it reads them until it reloads);
    older builds' rows go, and every other build's documents."""
    with transaction(db):
        row = db.execute("SELECT build FROM current").fetchone()
        db.execute(
            "UPDATE builds SET state = 'done', record = ? WHERE id = ?",
            (manifest_text(manifest), manifest.build_id),
        )
        db.execute(
            "INSERT INTO current (one, build) VALUES (1, ?) "
            "ON CONFLICT (one) DO UPDATE SET build = excluded.build",
            (manifest.build_id,),
        )
        kept = [manifest.build_id, row[0] if row else manifest.build_id]
        db.execute("DELETE FROM passages WHERE build NOT IN (?, ?)", kept)
        db.execute("DELETE FROM documents WHERE build != ?", (manifest.build_id,))
        db.execute("DELETE FROM builds WHERE id NOT IN (?, ?)", kept)


def forget(db: sqlite3.Connection, builds: Sequence[str]) -> None:
    """The rows of builds that never finished."""
    with transaction(db):
        for build in builds:
            db.execute("DELETE FROM passages WHERE build = ?", (build,))
            db.execute("DELETE FROM documents WHERE build = ?", (build,))
            db.execute("DELETE FROM builds WHERE id = ? AND state = 'building'", (build,))
