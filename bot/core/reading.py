"""Reading the sources of a build: every file, folder and URL into documents and their
passages, one document at a time and in order, with what the manifest records of each. One
source that cannot be read is left out with its reason; the others go in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.chunking import chunk_document
from bot.core.documents import slug
from bot.core.errors import IndexStoreError, SourceError
from bot.core.settings import ChunkerSettings
from bot.core.sources import expand, is_url, load_document, source_key
from bot.core.store import DOCUMENTS_FILE, read_manifest
from bot.core.types import Chunk, Document, Kind, Notify, Progress, SourceInfo

if TYPE_CHECKING:
    from bot.core.embedding import Embedder


def read_documents(
    sources: Sequence[str | Path],
    embedder: Embedder,
    chunker: ChunkerSettings,
    notify: Notify,
    progress: Progress | None,
    previous: dict[str, Document],
    added_at: dict[str, str],
    max_bytes: int,
    skipped: dict[str, str],
) -> Iterator[tuple[Document, list[Chunk], SourceInfo]]:
    """Each readable source as it is read: the document, its passages, and what the manifest
    records of it; one at a time, so a build need not hold the corpus. A source that cannot
    be read goes into `skipped` with why, and the others go on; SourceError at the end when
    none could be read."""
    ids: set[str] = set()
    names: set[str] = set()
    read = 0
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    files = []
    for source, note in (item for src in sources for item in expand(src)):
        if note is not None:
            notify(note)
        else:
            files.append(source)
    if progress and len(files) > 1:
        progress.start(len(files), f"Reading {len(files)} documents")
    for source in files:
        if progress and len(files) > 1:
            progress.advance(1)
        key = source_key(source)
        try:
            doc = _load(source, key, previous, ids, names, max_bytes)
        except SourceError as exc:
            skipped[key] = str(exc)
            continue
        doc_chunks = chunk_document(doc, embedder.count_tokens, chunker)
        read += 1
        yield (
            doc,
            doc_chunks,
            SourceInfo(
                path=key,
                doc_id=doc.doc_id,
                sha256=doc.sha256,
                bytes=len(doc.text.encode("utf-8")),
                chunks=len(doc_chunks),
                name=doc.name,
                format=doc.format,
                paragraphs=sum(p.kind is Kind.CONTENT for p in doc.paragraphs),
                pages=len(doc.pages),
                added_at=added_at.get(f"{key}\0{doc.sha256}", now),
            ),
        )
    if read:
        for reason in skipped.values():
            notify(f"{reason}; left out")
    else:
        first = next(iter(skipped.values()), "no documents to index")
        raise SourceError(
            first
            if len(skipped) <= 1
            else f"none of the {len(skipped)} documents could be read; the first: {first}"
        )


def _load(
    source: str | Path,
    key: str,
    previous: dict[str, Document],
    ids: set[str],
    names: set[str],
    max_bytes: int,
) -> Document:
    """A source as a Document: a web page from the previous build (fetched when it was
    added, not again on every rebuild), everything else read now. Two files of one name
    (from different folders) are told apart by their folder: "a/guide.md", "b/guide.md"."""
    if is_url(source) and key in previous:
        doc = previous[key]
    else:
        doc = load_document(source, "-", max_bytes=max_bytes)
    name = doc.name
    if name in names and not is_url(source):
        name = f"{Path(key).parent.name}/{doc.name}"
    names.add(name)
    return dataclasses.replace(doc, doc_id=_unique(slug(Path(doc.name).stem), ids), name=name)


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def stored_documents(index_dir: Path, keep: Callable[[str], bool]) -> dict[str, Document]:
    """The documents of the index in `index_dir` whose source `keep` accepts, by source;
    empty when there is none (or it predates documents.jsonl, or is damaged: the sources
    are read again then). Only those are read into paragraphs: that costs time."""
    from bot.core.documents import parse_paragraphs

    try:
        manifest = read_manifest(index_dir)
        if not any(keep(source.path) for source in manifest.sources):
            return {}  # documents.jsonl holds the whole corpus's text: not read for nothing
        kept = {}
        # A line at a time: only the kept documents are held, not every record of the file.
        with open(index_dir / manifest.data_dir / DOCUMENTS_FILE, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                r = json.loads(line)
                if keep(r["source"]):
                    kept[r["source"]] = Document(
                        **{**r, "pages": tuple(r["pages"])},
                        paragraphs=tuple(parse_paragraphs(r["text"])),
                    )
        return kept
    except (OSError, ValueError, KeyError, TypeError, IndexStoreError, AttributeError):
        return {}
