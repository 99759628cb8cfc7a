"""The index's documents: rebuild, add, remove, and its status, for every front end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import BUNDLED_DOCUMENT, Settings
from bot.core.errors import IndexDamaged, IndexStoreError, SourceError
from bot.core.types import Manifest, Notify, Plan, Progress, quiet
from bot.service.mapping import build_embedder, chunker_settings

if TYPE_CHECKING:
    from bot.core.index.store import IndexStore


def check_sources(sources: Sequence[str | Path]) -> None:
    """Raise SourceError when not one of `sources` can be opened: before the model loads.
    (A build leaves out the ones that cannot be read, and says so.)"""
    from bot.core.documents.sources import check_source, files_in

    files = files_in(sources)
    errors = []
    for source in files:
        try:
            check_source(source)
        except SourceError as exc:
            errors.append(exc)
    if not files:
        raise SourceError(f"no documents qabot reads in {', '.join(map(str, sources))}")
    if len(errors) == len(files):
        raise errors[0]


def rebuild(
    settings: Settings,
    sources: Sequence[str | Path] | None = None,
    progress: Progress | None = None,
    notify: Notify = quiet,
) -> Manifest:
    """Build the index from scratch: from `sources`, else the configured ones, else the
    index's current ones, else the bundled article. The old index stays until the new one is
    complete."""
    chosen: list[str | Path] = list(sources or settings.sources or [])
    if not chosen:
        store = _store(settings)
        store.migrate(notify)
        existing = store.record()  # None when there is no index yet
        chosen = [s.path for s in existing.sources] if existing else [BUNDLED_DOCUMENT]
    check_sources(chosen)
    return _build(settings, chosen, progress, notify)


def demo_only(manifest: Manifest | None) -> bool:
    """Whether the index holds nothing but the bundled demo article: what an index is built
    from before the user names any document."""
    from bot.core.documents.sources import source_key

    paths = [s.path for s in manifest.sources] if manifest else []
    return paths == [source_key(BUNDLED_DOCUMENT)]


def add(
    settings: Settings,
    sources: Sequence[str | Path],
    progress: Progress | None = None,
    notify: Notify = quiet,
    keep_demo: bool = False,
) -> Manifest:
    """Add files, folders (every supported file in them) or URLs to the index's documents;
    only new or changed text is embedded. A URL added again is fetched again. The first
    documents added to an index holding only the demo article replace it (said in one line),
    unless `keep_demo`: the user asks about their documents, not beside a news story."""
    from bot.core.documents.sources import is_url, source_key, source_keys

    _refuse_configured(settings)
    check_sources(sources)
    keys = {source_key(s) for s in sources}

    def plan(before: Manifest | None) -> list[str | Path]:
        # Read under the build's lock: an add that finished meanwhile is kept, not lost.
        current = [s.path for s in before.sources] if before else []
        if demo_only(before) and not keep_demo and not keys & set(current):
            notify(
                "The demo article is replaced by your documents "
                "(to keep it beside them: qabot index add --keep-demo …)"
            )
            current = []
        return [*(s for s in current if s not in keys), *sources]

    refetch = frozenset(k for k in keys if is_url(k))
    manifest = _build(settings, plan, progress, notify, refetch)
    added = {s.path for s in manifest.sources}
    if not any(key in added for key in source_keys(sources)):
        # Nothing new could be read: the index holds what it held, and the command failed.
        raise SourceError(f"nothing added: {next(iter(manifest.skipped.values()), 'no documents')}")
    return manifest


def remove(
    settings: Settings,
    names: Sequence[str],
    progress: Progress | None = None,
    notify: Notify = quiet,
) -> Manifest:
    """Take documents out of the index, by name (as `index list` shows it), id, path (as
    typed, relative or not) or URL."""
    from bot.core.documents.sources import source_key

    _refuse_configured(settings)

    def plan(before: Manifest | None) -> list[str | Path]:
        if before is None:
            raise IndexStoreError(f"no index in {settings.index_dir} yet; add documents first")
        keys = {n: (n, source_key(n)) for n in names}
        gone = {
            n: [s for s in before.sources if {s.name, s.doc_id, s.path} & set(keys[n])]
            for n in names
        }
        unknown = [n for n, found in gone.items() if not found]
        if unknown:
            held = ", ".join(s.name or s.doc_id for s in before.sources)
            raise SourceError(f"no document called {unknown[0]!r} in the index; it holds {held}")
        removed = {s.path for found in gone.values() for s in found}
        remaining: list[str | Path] = [s.path for s in before.sources if s.path not in removed]
        if not remaining:
            raise SourceError("that would leave the index empty; add another document first")
        return remaining

    return _build(settings, plan, progress, notify)


def _refuse_configured(settings: Settings) -> None:
    """`add` and `remove` change the index's own list of documents; when the configuration
    names the sources, it decides (and the next question would rebuild to match it)."""
    if settings.sources:
        raise SourceError(
            "the configuration lists the documents (sources:); change that list instead"
        )


def _build(
    settings: Settings,
    sources: Sequence[str | Path] | Plan,
    progress: Progress | None,
    notify: Notify,
    refetch: frozenset[str] = frozenset(),
) -> Manifest:
    return _store(settings).build(
        sources,
        build_embedder(settings),
        chunker_settings(settings),
        progress,
        notify,
        settings.index_type,
        refetch,
    )


def _store(settings: Settings) -> IndexStore:
    from bot.core.index.store import IndexStore

    return IndexStore(Path(settings.index_dir))


@dataclass(frozen=True)
class IndexStatus:
    """What `index status` reports. `ok` is the one answer a script needs: False whenever
    anything is wrong (damaged, out of date, a document gone)."""

    index_dir: Path
    recorded: Manifest | None  # None when the manifest itself is damaged (`damage` says how)
    reasons: list[str]  # why it is out of date; empty when up to date
    size_bytes: int
    damage: str | None = None  # what is wrong with the manifest or the data files

    @property
    def manifest(self) -> Manifest:
        """The manifest; the damage as an IndexStoreError when it cannot be read."""
        if self.recorded is None:
            raise IndexStoreError(
                f"the index in {self.index_dir} is damaged ({self.damage}); rebuild it from "
                "your documents: qabot index rebuild --source FILE (or qabot index add FILE …)"
            )
        return self.recorded

    @property
    def up_to_date(self) -> bool:
        return not self.reasons and not self.damage

    @property
    def ok(self) -> bool:
        return self.up_to_date


def status(settings: Settings) -> IndexStatus:
    """What the index holds, whether it is up to date, and whether it is damaged (every data
    file hashed), without loading the model. A damaged manifest is a status too (`recorded`
    None); IndexStoreError when there is no index, or the folder is not qabot's."""
    from bot.core.index.model import model_identity

    store = _store(settings)
    target = store.directory
    try:
        store.migrate()  # an index built before index.db, brought into one
        manifest = store.record()
    except IndexDamaged as exc:
        return IndexStatus(target, None, [], 0, exc.what)
    if manifest is None:
        raise IndexStoreError(f"no index in {target} yet; build it: qabot index rebuild")
    reasons = store.out_of_date(
        manifest,
        settings.sources or [s.path for s in manifest.sources],
        model_identity(settings.model, settings.backend),
        chunker_settings(settings),
        settings.index_type,
    )
    return IndexStatus(target, manifest, reasons, store.size(manifest), store.damage(manifest))
