"""Reading the sources of a build: every file, folder and URL into documents and their
passages, one document at a time and in order, with what the manifest records of each. One
source that cannot be read is left out with its reason; the others go in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.documents.chunking import chunk_document
from bot.core.documents.paragraphs import slug
from bot.core.documents.sources import expand, is_url, load_document, shown, source_key
from bot.core.errors import SourceError
from bot.core.index import freshness
from bot.core.index.integrity import document_digest
from bot.core.settings import ChunkerSettings
from bot.core.types import Chunk, Document, Kind, Notify, Progress, SourceInfo

if TYPE_CHECKING:
    from bot.core.index.embedding import Embedder


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
    kept: dict[str, SourceInfo] | None = None,
) -> Iterator[tuple[Document, list[Chunk], SourceInfo]]:
    """Each readable source as it is read: the document, its passages, and what the manifest
    records of it; one at a time, so a build need not hold the corpus. A source that cannot
    be read goes into `skipped` with why, and the others go on; SourceError at the end when
    none could be read.

    One file is one document however often it is named (twice, through its folder, or by a
    symbolic link): sources are told apart by their key. A document the index already holds
    (`kept`, by key) keeps its name and id, whatever else is added or removed."""
    read = 0
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    files: dict[str, str | Path] = {}
    for source, note in (item for src in sources for item in expand(src)):
        if note is not None:
            notify(note)
        else:
            files.setdefault(source_key(source), source)  # the first naming of a file counts
    names = _Names(kept or {}, files)
    if progress and len(files) > 1:
        progress.start(len(files), f"Reading {len(files)} documents")
    for key, source in files.items():
        if progress and len(files) > 1:
            progress.advance(1)
        # What stat says of a file before it is read: a change while it is read shows later.
        stat_at = time.time_ns()
        before = None if is_url(source) else freshness.seen(source)
        try:
            doc = _load(source, key, previous, names, max_bytes)
        except SourceError as exc:
            skipped[_recordable(key)] = str(exc)
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
                **freshness.recorded_fields(
                    freshness.settled(before, stat_at), before.size if before else 0
                ),
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


def _recordable(key: str) -> str:
    """A source's key as the manifest can hold it: as it is, unless it is not UTF-8 (a link
    to a file whose name is not); then as messages show it."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return shown(key)
    return key


class _Names:
    """The names and ids of a build's documents: one each, and stable. A document the index
    already holds keeps its own (they are held for it from the start, so a document read
    before it cannot take them); a new one gets its file name, or, when that is taken, the
    file name with as many of its folders as tell it apart ("a/guide.md", "b/guide.md")."""

    def __init__(self, kept: dict[str, SourceInfo], keys: Iterable[str]):
        self.names: dict[str, str] = {}  # every name given or held, and the key it is for
        self.ids: dict[str, str] = {}
        self.held: dict[str, tuple[str | None, str | None]] = {}  # key -> its name and id
        for key in keys:
            info = kept.get(key)
            if info is None:
                continue
            # (A manifest from before names were recorded has none: one is given now.)
            name = info.name if info.name and self.names.setdefault(info.name, key) == key else None
            doc_id = info.doc_id if self.ids.setdefault(info.doc_id, key) == key else None
            self.held[key] = (name, doc_id)

    def name(self, key: str, doc: Document, url: bool) -> str:
        name = self.held.get(key, (None, None))[0]
        if name is not None:
            return name
        path = Path(key)
        folders = () if url else path.parent.relative_to(path.anchor).parts
        candidates = [doc.name]
        candidates += ["/".join((*folders[-n:], doc.name)) for n in range(1, len(folders) + 1)]
        name = next((c for c in candidates if c not in self.names), None)
        n = 2
        while name is None:
            candidate, n = f"{doc.name} ({n})", n + 1
            name = candidate if candidate not in self.names else None
        self.names[name] = key
        return name

    def doc_id(self, key: str, doc: Document) -> str:
        doc_id = self.held.get(key, (None, None))[1]
        if doc_id is not None:
            return doc_id
        base = slug(Path(doc.name).stem)
        candidate, n = base, 2
        while candidate in self.ids:
            candidate, n = f"{base}-{n}", n + 1
        self.ids[candidate] = key
        return candidate


def _load(
    source: str | Path,
    key: str,
    previous: dict[str, Document],
    names: _Names,
    max_bytes: int,
) -> Document:
    """A source as a Document: a web page from the previous build (fetched when it was
    added, not again on every rebuild), everything else read now; named by `names`."""
    if is_url(source) and key in previous:
        doc = previous[key]
    else:
        doc = load_document(source, "-", max_bytes=max_bytes)
    url = is_url(source)
    return dataclasses.replace(doc, doc_id=names.doc_id(key, doc), name=names.name(key, doc, url))


def stored_documents(
    db: sqlite3.Connection, build: str | None, keep: Callable[[str], bool]
) -> dict[str, Document]:
    """The documents of `build` whose source `keep` accepts, by source; empty when there is
    no build (or it is damaged: the sources are read again then; so is a document that does
    not match its checksum). Only those are read into paragraphs: that costs time."""
    from bot.core.documents.paragraphs import parse_paragraphs

    if build is None:
        return {}
    kept = {}
    try:
        sources = db.execute("SELECT seq, source FROM documents WHERE build = ?", (build,))
        for seq in [seq for seq, source in sources.fetchall() if keep(source)]:
            *fields, digest = db.execute(
                "SELECT source, doc_id, name, format, sha256, pages, title, text, digest "
                "FROM documents WHERE build = ? AND seq = ?",
                (build, seq),
            ).fetchone()
            if document_digest(tuple(fields)) != digest:
                continue  # not what its build wrote: read (fetched) again
            source, doc_id, name, form, sha256, pages, title, text = fields
            kept[source] = Document(
                source=source,
                doc_id=doc_id,
                text=text,
                sha256=sha256,
                paragraphs=tuple(parse_paragraphs(text, form)),
                name=name,
                format=form,
                pages=tuple(json.loads(pages)),
                title=title,
            )
    except (sqlite3.Error, ValueError, TypeError):
        return {}
    return kept
