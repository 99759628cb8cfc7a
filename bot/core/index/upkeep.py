"""Keeping the index up to date on opening: built first when there is none, rebuilt when its
sources or settings changed, then opened for reading. Apart from the store, which only reads:
opening an index for reading never builds one; the service calls this when it may."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import IndexStoreError
from bot.core.index.build import build_index, migrate_older, record_seen
from bot.core.index.freshness import check, missing_sources
from bot.core.index.passages import Index
from bot.core.index.schema import DB_FILE
from bot.core.index.store import load_index, read_manifest
from bot.core.settings import ChunkerSettings, IndexSettings
from bot.core.types import Notify, Progress

if TYPE_CHECKING:
    from bot.core.index.embedding import Embedder


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
    migrate_older(index_dir, notify)  # an index built before index.db, brought into one
    manifest = read_manifest(index_dir)
    if manifest is None and not sources and any(index_dir.glob("data-*")):
        # Built here before and its database lost: building the default document in its
        # place would quietly replace the user's documents with another.
        raise IndexStoreError(
            f"the index in {index_dir} has lost its {DB_FILE}; build it again from your "
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
        notify(
            f"warning: {_names(gone)} no longer exists; answering from the index as built "
            f"(take it out: qabot index remove {Path(gone[0]).name})"
        )
        reasons = []
    else:
        fresh = check(manifest, wanted, embedder.name, chunker, index_type)
        reasons = fresh.reasons
        if not reasons:
            # Sources hashed only because stat said something new of them (touched, copied
            # over with the same bytes): recorded, so the next opening does not hash them.
            manifest = record_seen(index_dir, manifest, fresh.confirmed)
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
