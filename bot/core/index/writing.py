"""Writing a build's data folder as its documents are read, so a build's memory does not grow
with the text of the corpus.

Each document goes to disk as it is read (its record in documents.jsonl, its passages in
chunks.jsonl); what stays in memory per passage is a few numbers, its embedding key and its
search terms as integers. Embedding then reads the passages back a batch at a time, and
writes their vectors to disk, from where the vector index is built a block at a time. What
must be whole in memory is the vector index itself and the term ids of each passage, which
BM25 is built from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.index import vectors as vector_index
from bot.core.index.embedcache import VectorCache, embed_key, passage_key
from bot.core.index.lexical import Lexicon
from bot.core.index.passages import RowsTable, chunk_line
from bot.core.index.rowfile import RowReader, RowWriter
from bot.core.index.store import (
    CHUNKS_FILE,
    DOCUMENTS_FILE,
    EMBED_KEYS_FILE,
    PASSAGES_FILE,
    ROWS_FILE,
    SENTENCE_KEYS_TEMP,
    SENTENCES_FILE,
    VECTORS_FILE,
)
from bot.core.types import Chunk, Document, Progress, SourceInfo

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
    """A build's data folder, filled one document at a time (`add`), then embedded and
    indexed (`finish`). Only the folder's own files are written; the caller swaps it in."""

    def __init__(self, folder: Path, embedder: Embedder, cached: VectorCache):
        self.folder = folder
        self.embedder = embedder
        self.cached = cached
        # Open for the whole build; closed by close(), which finish() and a failed build call.
        self._chunks = open(folder / CHUNKS_FILE, "w", encoding="utf-8")  # noqa: SIM115
        self._docs = open(folder / DOCUMENTS_FILE, "w", encoding="utf-8")  # noqa: SIM115
        self._sentence_keys = open(folder / SENTENCE_KEYS_TEMP, "w", encoding="ascii")  # noqa: SIM115
        self._rows = RowsTable()
        self._passage_keys: list[str] = []
        self._fresh = bytearray()  # 1 for a passage whose vectors are not all in the cache
        self._texts = 0  # distinct texts the fresh passages need embedded
        self.lexicon = Lexicon()

    @property
    def passages(self) -> int:
        return len(self._passage_keys)

    def add_all(
        self, documents: Iterable[tuple[Document, list[Chunk], SourceInfo]]
    ) -> list[SourceInfo]:
        """Write each document as it comes (one in memory at a time); what the manifest
        records of each."""
        infos = []
        for doc, chunks, info in documents:
            self.add(doc, chunks)
            infos.append(info)
        return infos

    def add(self, doc: Document, chunks: list[Chunk]) -> None:
        self._docs.write(json.dumps(document_record(doc), ensure_ascii=False) + "\n")
        model = self.embedder.name
        for chunk in chunks:
            line = chunk_line(chunk)
            self._chunks.write(line)
            self._rows.add(line, len(chunk.sentences))
            key = passage_key(model, chunk)
            sentence_keys = [
                embed_key(model, chunk.sentence_text(k)) for k in range(len(chunk.sentences))
            ]
            self._passage_keys.append(key)
            self._sentence_keys.write("".join(k + "\n" for k in sentence_keys))
            fresh = key not in self.cached or any(k not in self.cached for k in sentence_keys)
            self._fresh.append(fresh)
            if fresh:
                self._texts += len(set(chunk.embed_parts))
            self.lexicon.add(chunk.embed_text)

    def close(self) -> None:
        for fh in (self._chunks, self._docs, self._sentence_keys):
            fh.close()

    def finish(self, progress: Progress | None, index_type: str) -> Written:
        """Embed what the cache lacks, then write the vector index, BM25 and the keys."""
        import faiss
        import numpy as np

        self.close()
        rows = self._rows.array()
        np.save(self.folder / ROWS_FILE, rows, allow_pickle=False)
        count = int(rows[-1, 1])
        if progress:
            fresh = sum(self._fresh)
            unchanged = self.passages - fresh
            reused = f", {unchanged} unchanged" if unchanged else ""
            progress.start(self._texts, f"Embedding {fresh} passages ({self._texts} texts){reused}")
        dimension = self.embedder.dimension
        sentences = RowWriter(self.folder / SENTENCES_FILE, (count, dimension))
        passages = RowWriter(self.folder / PASSAGES_FILE, (self.passages, dimension))
        try:
            self._embed(rows, passages, sentences, progress)
        finally:
            sentences.close()
            passages.close()
        kind = vector_index.choose(index_type, self.passages)
        index = vector_index.build(kind, RowReader(self.folder / PASSAGES_FILE))
        faiss.write_index(index, str(self.folder / VECTORS_FILE))
        del index
        self.lexicon.build().save(self.folder)
        self._write_keys()
        return Written(kind, self.passages, count, self.embedder.dimension)

    def _embed(
        self, rows: Any, passages: RowWriter, sentences_out: RowWriter, progress: Progress | None
    ) -> None:
        model = self.embedder.name
        pending: list[tuple[int, Chunk]] = []
        with open(self.folder / CHUNKS_FILE, encoding="utf-8") as fh:
            for row, line in enumerate(fh):
                chunk = Chunk.from_dict(json.loads(line))
                if self._fresh[row]:
                    pending.append((row, chunk))
                    if len(pending) == EMBED_BATCH:
                        self._encode(pending, rows, passages, sentences_out, progress)
                        pending = []
                    continue
                passages[row] = self.cached[self._passage_keys[row]]
                first = int(rows[row, 1])
                for k in range(len(chunk.sentences)):
                    sentences_out[first + k] = self.cached[embed_key(model, chunk.sentence_text(k))]
        if pending:
            self._encode(pending, rows, passages, sentences_out, progress)

    def _encode(
        self,
        batch: list[tuple[int, Chunk]],
        rows: Any,
        passages: Any,
        sentences_out: Any,
        progress: Progress | None,
    ) -> None:
        parts = [chunk.embed_parts for _, chunk in batch]
        vectors, part_vectors = self.embedder.encode_passages(
            parts, progress=progress.advance if progress else None
        )
        for j, (row, chunk) in enumerate(batch):
            # The parts before a passage's sentences (its heading) are pooled, not kept.
            skip = len(parts[j]) - len(chunk.sentences)
            first = int(rows[row, 1])
            passages[row] = vectors[j]
            sentences_out[first : first + len(chunk.sentences)] = part_vectors[j][skip:]

    def _write_keys(self) -> None:
        """embedded.keys: the passages' keys, then their sentences' (kept aside until now)."""
        temp = self.folder / SENTENCE_KEYS_TEMP
        with open(self.folder / EMBED_KEYS_FILE, "w", encoding="ascii") as out:
            out.write("".join(k + "\n" for k in self._passage_keys))
            with open(temp, encoding="ascii") as fh:
                for block in iter(lambda: fh.read(1 << 20), ""):
                    out.write(block)
        temp.unlink()


def document_record(doc: Document) -> dict[str, Any]:
    """What documents.jsonl keeps of a document (its paragraphs are read again from the text)."""
    return {
        "source": doc.source,
        "doc_id": doc.doc_id,
        "name": doc.name,
        "format": doc.format,
        "sha256": doc.sha256,
        "pages": list(doc.pages),
        "title": doc.title,
        "text": doc.text,
    }
