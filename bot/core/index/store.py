"""The index as one object: `IndexStore` is the only way the service reaches an index folder.

It knows the layout (bot.core.index.snapshot: index.db beside one data folder per build) and
offers what can be done with it: read the current build's record, open a snapshot of it for
answering, build or change it under the build lock, bring an older one up to date, and check
it. Reading never builds: `open` only reads, and `open_updated` (building a missing index,
rebuilding a stale one) is what the service calls when its settings allow it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import IndexStoreError
from bot.core.index.schema import DB_FILE
from bot.core.settings import ChunkerSettings, IndexSettings
from bot.core.types import Manifest, Notify, Plan, Progress, quiet

if TYPE_CHECKING:
    from bot.core.index.embedding import Embedder
    from bot.core.index.freshness import Seen
    from bot.core.index.passages import Index


@dataclass(frozen=True)
class IndexStore:
    """One index folder. Cheap to make: nothing is read until a method asks."""

    directory: Path

    # --- reading (never builds) ------------------------------------------------------------

    def record(self) -> Manifest | None:
        """The current build's record, checked whole; None when there is no index.
        IndexDamaged, OlderIndex or IndexStoreError as snapshot.read_manifest says."""
        from bot.core.index.snapshot import read_manifest

        return read_manifest(self.directory)

    def current_build(self) -> str | None:
        """The id of the build that answers now: one small query (a live process asks it
        before each question); None when there is none or it cannot be read."""
        from bot.core.index.snapshot import current_build

        return current_build(self.directory)

    def open(self, record: Manifest | None = None) -> Index:
        """A snapshot of the build `record` names (default: the current one), its data
        checked, ready to answer from. IndexStoreError when there is no index."""
        from bot.core.index.snapshot import load_index

        record = record or self.record()
        if record is None:
            raise IndexStoreError(
                f"no index in {self.directory} yet; build it: qabot index rebuild"
            )
        return load_index(self.directory, record)

    def damage(self, record: Manifest) -> str | None:
        """What is wrong with the build's data, every file, passage and document hashed
        (None: nothing): what `index status` reports."""
        from bot.core.index.snapshot import data_damage

        return data_damage(self.directory, record)

    def size(self, record: Manifest) -> int:
        """Bytes on disk of the database and the build's data folder."""
        from bot.core.index.snapshot import disk_size

        return disk_size(self.directory, record)

    def out_of_date(
        self,
        record: Manifest,
        sources: Sequence[str | Path],
        model: str,
        chunker: ChunkerSettings,
        index_type: str,
    ) -> list[str]:
        """Why the build no longer matches `sources` and the settings, a source that no
        longer exists said so once (empty: up to date); nothing is written."""
        from bot.core.index.freshness import missing_sources, staleness

        gone = missing_sources(record)
        reasons = staleness(record, sources, model, chunker, index_type)
        reasons = [r for r in reasons if not any(g in r for g in gone)]
        return reasons + [f"{g} no longer exists" for g in gone]

    def vectors_file(self, record: Manifest) -> Path:
        """The build's FAISS file (`qabot bench` loads it bare, for its floor)."""
        from bot.core.index.snapshot import VECTORS_FILE

        return self.directory / record.data_dir / VECTORS_FILE

    # --- writing (under the build lock) ----------------------------------------------------

    def migrate(self, notify: Notify = quiet) -> None:
        """Bring an index built by an older qabot up to date (one line to `notify`); nothing
        when it is current, absent, or the folder cannot be written."""
        import os
        import sqlite3

        from bot.core.index import legacy, schema

        if not os.access(self.directory, os.W_OK):
            return  # reading it says what is wrong
        if not (legacy.older(self.directory) or schema.outdated(self.directory)):
            return
        from bot.core.index.folder import build_lock
        from bot.core.index.snapshot import damaged

        with build_lock(self.directory, notify):
            legacy.migrate(self.directory, notify)
            try:  # the database's own migrations (never replaced for failing one)
                db = schema.connect(self.directory, write=True)
                schema.settle(db)
                db.close()
            except (sqlite3.Error, schema.NotOurs) as exc:
                raise damaged(self.directory, f"{DB_FILE}: {str(exc)[:200]}") from None

    def build(
        self,
        sources: Sequence[str | Path] | Plan,
        embedder: Embedder,
        chunker: ChunkerSettings,
        progress: Progress | None = None,
        notify: Notify = quiet,
        index_type: str = "auto",
        refetch: frozenset[str] = frozenset(),
    ) -> Manifest:
        """Build from `sources` (or what a Plan makes of the current record, read under the
        lock) and swap the build in atomically; the previous one answers until then."""
        from bot.core.index.build import build_index

        return build_index(
            sources,
            self.directory,
            embedder,
            chunker,
            progress,
            notify,
            index_type=index_type,
            refetch=refetch,
        )

    def record_seen(self, record: Manifest, confirmed: Mapping[str, Seen]) -> Manifest:
        """`record` noting what `stat` says now of sources hashed and found unchanged, so the
        next opening need not hash them (left as it was when the folder is read-only)."""
        if not confirmed:
            return record  # nothing hashed: the build's code need not load
        from bot.core.index.build import record_seen

        return record_seen(self.directory, record, confirmed)

    # --- opening, building first when it must ----------------------------------------------

    def open_updated(
        self,
        embedder: Embedder,
        chunker: ChunkerSettings,
        sources: Sequence[Path] | None,
        default_sources: Sequence[Path],
        settings: IndexSettings | None = None,
        progress: Progress | None = None,
        notify: Notify = quiet,
    ) -> Index:
        """Open the index, building it first if it is missing and rebuilding it if it is stale
        (or refusing, with `settings.auto_rebuild` off). `sources` None means: whatever the
        index was built from, or `default_sources` when there is no index yet."""
        from bot.core.index.freshness import check, missing_sources

        settings = settings or IndexSettings()
        self.migrate(notify)  # an index built before index.db, brought into one
        record = self.record()
        if record is None and not sources and any(self.directory.glob("data-*")):
            # Built here before and its database lost: building the default document in its
            # place would quietly replace the user's documents with another.
            raise IndexStoreError(
                f"the index in {self.directory} has lost its {DB_FILE}; build it again from "
                "your documents: qabot index rebuild --source FILE (or qabot index add FILE …)"
            )
        if record is None:
            wanted = list(sources or default_sources)
            notify(f"No index in {self.directory} yet; building it from {_names(wanted)} …")
            record = self.build(wanted, embedder, chunker, progress, notify, settings.index_type)
            return self.open(record)

        wanted = list(sources) if sources else [s.path for s in record.sources]
        gone = missing_sources(record)
        if gone and not sources:
            # Nothing to rebuild from: the stored passages still answer.
            notify(
                f"warning: {_names(gone)} no longer exists; answering from the index as "
                f"built (take it out: qabot index remove {Path(gone[0]).name})"
            )
            reasons = []
        else:
            fresh = check(record, wanted, embedder.name, chunker, settings.index_type)
            reasons = fresh.reasons
            if not reasons:
                # Sources hashed only because stat said something new of them (touched,
                # copied over with the same bytes): recorded, so the next opening does not
                # hash them.
                record = self.record_seen(record, fresh.confirmed)
        if reasons:
            if not settings.auto_rebuild:
                raise IndexStoreError(
                    f"the index in {self.directory} is out of date ({reasons[0]}); "
                    "rebuild it: qabot index rebuild"
                )
            notify(f"The index is out of date ({reasons[0]}); rebuilding …")
            record = self.build(wanted, embedder, chunker, progress, notify, settings.index_type)
        try:
            return self.open(record)
        except IndexStoreError:
            # Another process may have replaced the index between our two reads: its build.
            latest = self.record()
            if latest is None or latest.build_id == record.build_id:
                raise
            return self.open(latest)


def _names(paths: Sequence[Path | str]) -> str:
    return ", ".join(Path(p).name for p in paths)
