"""A live index: noticing that another process (`qabot index rebuild`, `add`, `remove`) has
swapped a new build into the index folder, and loading it beside the one that answers.

A build makes itself current in one transaction of the index's database, so a change shows
in the current build's id: one small query per check, the build record read only when it
changes, and the new build loaded only when its id differs from the engine's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import QABotError

if TYPE_CHECKING:
    from bot.core.answering.engine import QAEngine
    from bot.core.types import Manifest

log = logging.getLogger("bot.service")

# Seconds between looks at the database. A look is one small query (well under a
# millisecond), so every question looks: a question sent after a rebuild finished is
# answered from that build.
CHECK_INTERVAL = 0.0


class IndexWatch:
    """Watches one index folder for a new build, and loads it with the engine's own
    embedder, settings and selector (the model is never loaded again)."""

    def __init__(self, engine: QAEngine, interval: float = CHECK_INTERVAL):
        from bot.core.index.store import IndexStore

        self.directory = Path(engine.index.directory)
        self.store = IndexStore(self.directory)
        self.interval = interval
        # Nothing seen yet: the first question reads the manifest, in case a build came in
        # between loading the index and it.
        self._seen: str | None = ""
        self._checked = float("-inf")
        self._refused: set[str] = set()  # builds (or manifest errors) already warned about
        self._current = engine.index.manifest.build_id

    def newer(self, engine: QAEngine, force: bool = False) -> QAEngine | None:
        """A warmed-up engine over the build on disk if it is not `engine`'s, else None.

        Rate-limited to one look every `interval` seconds unless `force`d. A build that
        cannot be loaded is warned about once and the current engine goes on. Not
        thread-safe: the service calls it under its lock.
        """
        now = time.monotonic()
        if not force and now - self._checked < self.interval:
            return None
        self._current = engine.index.manifest.build_id
        self._checked = now
        seen = self.store.current_build()
        if seen == self._seen and not force:
            return None
        self._seen = seen
        manifest = self._manifest()
        if manifest is None or manifest.build_id == engine.index.manifest.build_id:
            return None
        return self._load(engine, manifest)

    def _manifest(self) -> Manifest | None:
        try:
            manifest = self.store.record()
        except QABotError as exc:
            self._warn_once(str(exc), f"cannot read the new build: {exc}")
            return None
        if manifest is None:
            self._warn_once("missing", f"the index is gone from {self.directory}")
        return manifest

    def _load(self, engine: QAEngine, manifest: Manifest) -> QAEngine | None:
        from bot.core.answering.engine import QAEngine

        if manifest.build_id in self._refused:
            return None
        if manifest.model != engine.embedder.name:
            self._warn_once(
                manifest.build_id,
                f"build {manifest.build_id} uses the model {manifest.model}, and this process "
                f"runs {engine.embedder.name}: restart it to answer from that build",
            )
            return None
        started = time.perf_counter()
        try:
            fresh = QAEngine(
                self.store.open(manifest),
                engine.embedder,
                engine.settings,
                engine.selector,
                engine.reader,
            )
            fresh.warm_up()  # the BM25 files are mapped now, before a newer build removes them
        except Exception as exc:  # whatever breaks in another process's build, ours answers
            self._warn_once(manifest.build_id, f"cannot load build {manifest.build_id}: {exc}")
            return None
        log.info(
            "index reloaded: build %s (%d passages, %d documents) in %.0f ms",
            manifest.build_id,
            manifest.chunk_count,
            len(manifest.sources),
            (time.perf_counter() - started) * 1000,
        )
        return fresh

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._refused:
            self._refused.add(key)
            log.warning("%s; still answering from build %s", message, self._current)
