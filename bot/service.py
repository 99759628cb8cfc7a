"""The one API every front end uses: open the configured index, ask, converse, rebuild, status.

It maps the user's `Settings` (bot.config) onto the core's own settings, so the core never
sees a config file and a front end never assembles an embedder, an index and an engine by
hand. Front ends import this module, `bot.core.types` and `bot.core.errors`; nothing else of
the core (an import contract in `make test` checks it).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import BUNDLED_DOCUMENT, SHIPPED_SELECTOR, Settings
from bot.core.errors import IndexStoreError, SourceError
from bot.core.settings import AnswerSettings, ChunkerSettings, EmbedderSettings, IndexSettings
from bot.core.types import (
    Answer,
    Manifest,
    Notify,
    Progress,
    SentenceCandidate,
    SourceInfo,
    Turn,
)

if TYPE_CHECKING:
    import numpy as np

    from bot.core.answering import QAEngine
    from bot.core.embedding import Embedder
    from bot.core.selector import Selector

__all__ = ["Conversation", "IndexStatus", "QAService", "check_sources", "rebuild", "status"]


def _quiet(_message: str) -> None:
    pass


# --- Settings -> the core's settings --------------------------------------------------------


def embedder_settings(settings: Settings) -> EmbedderSettings:
    return EmbedderSettings(
        settings.model,
        settings.device,
        settings.batch_size,
        settings.backend,
        settings.query_precision,
    )


def chunker_settings(settings: Settings) -> ChunkerSettings:
    return ChunkerSettings(settings.max_chunk_tokens, settings.min_chunk_tokens)


def index_settings(settings: Settings) -> IndexSettings:
    return IndexSettings(settings.index_type, settings.auto_rebuild)


def answer_settings(settings: Settings) -> AnswerSettings:
    return AnswerSettings(
        top_k=settings.top_k,
        abstain_threshold=settings.abstain_threshold,
        max_sentences=settings.max_answer_sentences,
        history_turns=settings.history_turns,
        selector_threshold=settings.selector_threshold,
    )


def selector_path(settings: Settings) -> Path | None:
    """The answer selector to use: the configured file, else the shipped one if the package
    has it; None for similarity scores only."""
    if settings.selector is None:
        return SHIPPED_SELECTOR if SHIPPED_SELECTOR.is_file() else None
    if settings.selector.strip().lower() in ("", "none"):
        return None
    return Path(settings.selector).expanduser()


def _selector(settings: Settings) -> Selector | None:
    from bot.core.selector import Selector

    path = selector_path(settings)
    return Selector.load(path) if path else None


def _embedder(settings: Settings) -> Embedder:
    from bot.core.embedding import Embedder

    return Embedder(embedder_settings(settings))


def preload_model(settings: Settings) -> None:
    """Load (and for torch-int8, quantise) the model now, so later timings leave it out."""
    _embedder(settings).encode_query("load")


# --- answering ------------------------------------------------------------------------------


class QAService:
    """An opened index and the engine over it. Thread-safe for `ask`."""

    def __init__(self, engine: QAEngine):
        self.engine = engine

    @classmethod
    def open(
        cls,
        settings: Settings,
        progress: Progress | None = None,
        notify: Notify = _quiet,
    ) -> QAService:
        """Load the configured index, building it if missing and rebuilding it if stale (or
        reporting it, with `auto_rebuild` off); the model is loaded and warm on return."""
        from bot.core.answering import QAEngine
        from bot.core.store import open_index

        embedder = _embedder(settings)
        index = open_index(
            Path(settings.index_dir),
            embedder,
            chunker_settings(settings),
            sources=settings.sources,
            default_sources=[BUNDLED_DOCUMENT],
            settings=index_settings(settings),
            progress=progress,
            notify=notify,
        )
        engine = QAEngine(index, embedder, answer_settings(settings), _selector(settings))
        engine.warm_up()
        return cls(engine)

    @property
    def manifest(self) -> Manifest:
        return self.engine.index.manifest

    @property
    def passages(self) -> dict[str, str]:
        """Every passage's text by its id, as citations name them."""
        return {c.id: c.text for c in self.engine.index.chunks}

    @property
    def first_heading(self) -> str:
        return next((c.heading for c in self.engine.index.chunks if c.heading), "")

    @property
    def model_path(self) -> str:
        """The folder the embedding model loads from."""
        from bot.core.embedding import resolve_model

        return resolve_model(self.engine.embedder.model_name)

    @property
    def vectors_path(self) -> Path:
        """The FAISS file of the passage vectors (for `qabot bench`'s bare floor)."""
        from bot.core.store import VECTORS_FILE

        index = self.engine.index
        return index.directory / index.manifest.data_dir / VECTORS_FILE

    @property
    def answer_settings(self) -> AnswerSettings:
        return self.engine.settings

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        top_k: int | None = None,
        document: str | None = None,
    ) -> Answer:
        """Answer one question; `history` is the conversation so far (for follow-ups);
        `document` (a name from `documents()`) limits the search to that document."""
        return self.engine.answer(question, history, top_k=top_k, document=document)

    def candidates(
        self, question: str, history: Sequence[Turn] = ()
    ) -> tuple[list[SentenceCandidate], np.ndarray]:
        """The sentences that compete for the answer and the selector's features of each
        (to train one: `qabot train`)."""
        return self.engine.candidates(question, history)

    def documents(self) -> list[SourceInfo]:
        """The documents in the index, in the order they were indexed."""
        return list(self.manifest.sources)

    def conversation(self, keep: int = 20) -> Conversation:
        return Conversation(self, keep)

    @contextlib.contextmanager
    def answering_with(self, **changes: object) -> Iterator[QAService]:
        """The service with some answer settings changed, for the length of a `with` block
        (`qabot eval --steps` and `--sweep`)."""
        saved = self.engine.settings
        self.engine.settings = dataclasses.replace(saved, **changes)
        try:
            yield self
        finally:
            self.engine.settings = saved


class Conversation:
    """The turns so far, bounded so a long conversation stays small.

    A turn may carry a key (a chat's message id): asking again under the same key (an edited
    question) replaces that turn and sees only the turns before it.
    """

    def __init__(self, service: QAService, keep: int = 20):
        self.service = service
        self.keep = keep
        self._turns: list[tuple[object, Turn]] = []
        self.document: str | None = None  # search only this document (`:doc` in the REPL)

    def limit_to(self, document: str | None) -> None:
        """Search only `document` from now on (None: every document); QuestionError if the
        index has no document of that name."""
        if document is not None:
            self.service.engine.index.rows_of(document)  # raises, naming the documents
        self.document = document

    def history(self, before: object = None) -> list[Turn]:
        """The turns so far; for an edited question (a known key), those before its first
        version."""
        keys = [key for key, _ in self._turns]
        entries = self._turns
        if before is not None and before in keys:
            entries = entries[: keys.index(before)]
        return [turn for _, turn in entries]

    def record(self, turn: Turn, key: object = None) -> None:
        if self.keep == 0:
            return
        keys = [k for k, _ in self._turns]
        if key is not None and key in keys:
            self._turns[keys.index(key)] = (key, turn)
        else:
            self._turns.append((key, turn))
        self._turns = self._turns[-self.keep :]

    def ask(self, question: str, key: object = None) -> Answer:
        answer = self.service.ask(question, self.history(before=key), document=self.document)
        self.record(Turn(question, answer), key)
        return answer

    def reset(self) -> None:
        self._turns = []

    @property
    def turns(self) -> list[Turn]:
        return [turn for _, turn in self._turns]

    @property
    def last(self) -> Answer | None:
        return self._turns[-1][1].answer if self._turns else None

    def __len__(self) -> int:
        return len(self._turns)


# --- the index --------------------------------------------------------------------------------


def check_sources(sources: Sequence[str | Path]) -> None:
    """Raise SourceError when not one of `sources` can be opened: before the model loads.
    (A build leaves out the ones that cannot be read, and says so.)"""
    from bot.core.sources import check_source, expand

    files = [s for src in sources for s, note in expand(src) if note is None]
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
    notify: Notify = _quiet,
) -> Manifest:
    """Build the index from scratch: from `sources`, else the configured ones, else the
    index's current ones, else the bundled article. The old index stays until the new one is
    complete."""
    from bot.core.store import read_manifest

    chosen: list[str | Path] = list(sources or settings.sources or [])
    if not chosen:
        existing = read_manifest(Path(settings.index_dir))  # None when there is no index yet
        chosen = [s.path for s in existing.sources] if existing else [BUNDLED_DOCUMENT]
    check_sources(chosen)
    return _build(settings, chosen, progress, notify)


def add(
    settings: Settings,
    sources: Sequence[str | Path],
    progress: Progress | None = None,
    notify: Notify = _quiet,
) -> Manifest:
    """Add files, folders (every supported file in them) or URLs to the index's documents;
    only new or changed text is embedded. A URL added again is fetched again."""
    from bot.core.sources import expand, is_url, source_key

    current = _current_sources(settings)
    check_sources(sources)
    keys = {source_key(s) for s in sources}
    kept = [s for s in current if s not in keys]
    refetch = frozenset(k for k in keys if is_url(k))
    manifest = _build(settings, [*kept, *sources], progress, notify, refetch)
    added = {s.path for s in manifest.sources}
    if not any(source_key(s) in added for src in sources for s, _ in expand(src)):
        # Nothing new could be read: the index holds what it held, and the command failed.
        raise SourceError(f"nothing added: {next(iter(manifest.skipped.values()), 'no documents')}")
    return manifest


def remove(
    settings: Settings,
    names: Sequence[str],
    progress: Progress | None = None,
    notify: Notify = _quiet,
) -> Manifest:
    """Take documents out of the index, by name (as `index list` shows it), id, path or URL."""
    from bot.core.store import read_manifest

    _current_sources(settings)  # refuses when the config file names the sources
    manifest = read_manifest(Path(settings.index_dir))
    if manifest is None:
        raise IndexStoreError(f"no index in {settings.index_dir} yet; add documents first")
    gone = {n: [s for s in manifest.sources if n in (s.name, s.doc_id, s.path)] for n in names}
    unknown = [n for n, found in gone.items() if not found]
    if unknown:
        held = ", ".join(s.name or s.doc_id for s in manifest.sources)
        raise SourceError(f"no document called {unknown[0]!r} in the index; it holds {held}")
    removed = {s.path for found in gone.values() for s in found}
    remaining = [s.path for s in manifest.sources if s.path not in removed]
    if not remaining:
        raise SourceError("that would leave the index empty; add another document first")
    return _build(settings, remaining, progress, notify)


def _current_sources(settings: Settings) -> list[str]:
    """The index's documents, for `add` and `remove`; refused when the configuration names
    the sources (it decides then, and the next question would rebuild to match it)."""
    from bot.core.store import read_manifest

    if settings.sources:
        raise SourceError(
            "the configuration lists the documents (sources:); change that list instead"
        )
    manifest = read_manifest(Path(settings.index_dir))
    return [s.path for s in manifest.sources] if manifest else []


def _build(
    settings: Settings,
    sources: Sequence[str | Path],
    progress: Progress | None,
    notify: Notify,
    refetch: frozenset[str] = frozenset(),
) -> Manifest:
    from bot.core.build import build_index

    return build_index(
        sources,
        Path(settings.index_dir),
        _embedder(settings),
        chunker_settings(settings),
        progress,
        notify=notify,
        index_type=settings.index_type,
        refetch=refetch,
    )


@dataclass(frozen=True)
class IndexStatus:
    index_dir: Path
    manifest: Manifest
    reasons: list[str]  # why it is out of date; empty when up to date
    size_bytes: int

    @property
    def up_to_date(self) -> bool:
        return not self.reasons


def status(settings: Settings) -> IndexStatus:
    """What the index holds and whether it is up to date, without loading the model."""
    from bot.core.embedding import model_identity
    from bot.core.store import disk_size, missing_sources, read_manifest, staleness

    target = Path(settings.index_dir)
    manifest = read_manifest(target)
    if manifest is None:
        raise IndexStoreError(f"no index in {target} yet; build it: qabot index rebuild")
    sources = settings.sources or [s.path for s in manifest.sources]
    gone = missing_sources(manifest)
    reasons = staleness(
        manifest,
        sources,
        model_identity(settings.model, settings.backend),
        chunker_settings(settings),
        settings.index_type,
    )
    reasons = [r for r in reasons if not any(g in r for g in gone)]
    reasons += [f"{g} no longer exists" for g in gone]
    return IndexStatus(target, manifest, reasons, disk_size(target, manifest))
