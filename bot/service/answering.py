"""Answering: an opened index (`QAService`) and a conversation over it (`Conversation`)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import BUNDLED_DOCUMENT, Settings
from bot.core.types import (
    Answer,
    Manifest,
    Notify,
    Progress,
    SentenceCandidate,
    SourceInfo,
    Turn,
    quiet,
)
from bot.service.mapping import (
    answer_settings,
    build_embedder,
    chunker_settings,
    index_settings,
    load_reader,
    load_selector,
)

if TYPE_CHECKING:
    import numpy as np

    from bot.core.answering.engine import QAEngine
    from bot.core.settings import AnswerSettings
    from bot.service.reload import IndexWatch


class QAService:
    """An opened index and the engine over it. Thread-safe for `ask` and
    `reload_if_changed`."""

    def __init__(self, engine: QAEngine):
        self.engine = engine
        self._watch: IndexWatch | None = None
        # One look (and load) at a time; questions that come meanwhile do not wait for it.
        self._reload_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        settings: Settings,
        progress: Progress | None = None,
        notify: Notify = quiet,
    ) -> QAService:
        """Load the configured index, building it if missing and rebuilding it if stale (or
        reporting it, with `auto_rebuild` off); the model is loaded and warm on return."""
        from bot.core.answering.engine import QAEngine
        from bot.core.index.store import IndexStore

        embedder = build_embedder(settings)
        index = IndexStore(Path(settings.index_dir)).open_updated(
            embedder,
            chunker_settings(settings),
            sources=settings.sources,
            default_sources=[BUNDLED_DOCUMENT],
            settings=index_settings(settings),
            progress=progress,
            notify=notify,
        )
        engine = QAEngine(
            index,
            embedder,
            answer_settings(settings),
            load_selector(settings),
            load_reader(settings),
        )
        engine.warm_up()
        return cls(engine)

    @property
    def manifest(self) -> Manifest:
        return self.engine.index.manifest

    @property
    def index_dir(self) -> Path:
        return Path(self.engine.index.directory)

    def reload_if_changed(self, force: bool = False) -> bool:
        """Answer from a new build of the index if another process has made one (`qabot
        index rebuild`, `add`, `remove`); True if it did. A cheap check, done at most once a
        second unless `force`d; the new build is loaded with the same model, and questions
        already being answered finish on the build they started with. A build that cannot be
        loaded is logged once and the current one goes on answering."""
        if not self._reload_lock.acquire(blocking=False):
            return False  # another thread is looking: this question keeps the current build
        try:
            if self._watch is None:
                from bot.service.reload import IndexWatch

                self._watch = IndexWatch(self.engine)
            fresh = self._watch.newer(self.engine, force)
            if fresh is not None:
                self.engine = fresh  # one reference: an `ask` keeps the engine it began with
            return fresh is not None
        finally:
            self._reload_lock.release()

    def has_passage(self, chunk_id: str, text: str) -> bool:
        """Whether the index as loaded now holds passage `chunk_id` with exactly `text` (a
        citation from an earlier build may point at a passage that is gone or changed)."""
        index = self.engine.index
        row = index.row_of(chunk_id)
        return row is not None and index.chunks[row].text == text

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
        from bot.core.index.model import resolve_model

        return resolve_model(self.engine.embedder.model_name)

    @property
    def vectors_path(self) -> Path:
        """The FAISS file of the passage vectors (for `qabot bench`'s bare floor)."""
        from bot.core.index.store import IndexStore

        index = self.engine.index
        return IndexStore(Path(index.directory)).vectors_file(index.manifest)

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
        self, question: str, history: Sequence[Turn] = (), depth: int | None = None
    ) -> tuple[list[SentenceCandidate], np.ndarray]:
        """The sentences that compete for the answer (the best `depth`, if given) and the
        selector's features of each (to train one: `qabot train`)."""
        return self.engine.candidates(question, history, depth)

    @property
    def demo_only(self) -> bool:
        """Whether the index holds only the bundled demo article (front ends say so)."""
        from bot.service.index import demo_only

        return demo_only(self.manifest)

    def documents(self) -> list[SourceInfo]:
        """The documents in the index, in the order they were indexed."""
        return list(self.manifest.sources)

    def conversation(self, keep: int = 20, state: ConversationState | None = None) -> Conversation:
        return Conversation(self, keep, state)

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


@dataclass
class ConversationState:
    """What a conversation remembers, as plain data with no service in it: it can be
    pickled, and a `Conversation` rebuilt around it (a Telegram chat's, after a restart)."""

    turns: list[tuple[object, Turn]] = field(default_factory=list)  # (key, turn), oldest first
    document: str | None = None  # search only this document (`:doc`, `/doc`)


class Conversation:
    """The turns so far, bounded so a long conversation stays small.

    A turn may carry a key (a chat's message id): asking again under the same key (an edited
    question) replaces that turn and sees only the turns before it.
    """

    def __init__(self, service: QAService, keep: int = 20, state: ConversationState | None = None):
        self.service = service
        self.keep = keep
        self.state = state if state is not None else ConversationState()

    @property
    def document(self) -> str | None:
        return self.state.document

    @property
    def _turns(self) -> list[tuple[object, Turn]]:
        return self.state.turns

    def limit_to(self, document: str | None) -> None:
        """Search only `document` from now on (None: every document); QuestionError if the
        index has no document of that name."""
        if document is not None:
            self.service.engine.index.rows_of(document)  # raises, naming the documents
        self.state.document = document

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
        del self._turns[: -self.keep]

    def ask(self, question: str, key: object = None) -> Answer:
        answer = self.service.ask(question, self.history(before=key), document=self.document)
        self.record(Turn(question, answer), key)
        return answer

    def reset(self) -> None:
        self._turns.clear()

    @property
    def turns(self) -> list[Turn]:
        return [turn for _, turn in self._turns]

    @property
    def last(self) -> Answer | None:
        return self._turns[-1][1].answer if self._turns else None

    def __len__(self) -> int:
        return len(self._turns)
