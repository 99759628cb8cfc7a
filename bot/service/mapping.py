"""The user's `Settings` (bot.config) as the core's own settings, and the parts built from
them (the embedder, the answer selector): so the core never sees a config file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bot.config import SHIPPED_READER, SHIPPED_SELECTOR, Settings
from bot.core.settings import (
    AnswerSettings,
    ChunkerSettings,
    EmbedderSettings,
    IndexSettings,
    user_settings,
)

if TYPE_CHECKING:
    from bot.core.answering.reader import Reader
    from bot.core.answering.selector import Selector
    from bot.core.index.embedding import Embedder

T = TypeVar("T")


def core_settings(cls: type[T], settings: Settings) -> T:
    """One of the core's settings classes from the user's settings, each field the user sets
    from the setting of its name (bot.core.settings.user_settings); the rest, the core's own
    tuning, at their defaults."""
    return cls(**{f.name: getattr(settings, name) for name, f in user_settings(cls).items()})


def embedder_settings(settings: Settings) -> EmbedderSettings:
    return core_settings(EmbedderSettings, settings)


def chunker_settings(settings: Settings) -> ChunkerSettings:
    return core_settings(ChunkerSettings, settings)


def index_settings(settings: Settings) -> IndexSettings:
    return core_settings(IndexSettings, settings)


def answer_settings(settings: Settings) -> AnswerSettings:
    return core_settings(AnswerSettings, settings)


def selector_path(settings: Settings) -> Path | None:
    """The answer selector to use: the configured file, else the shipped one if the package
    has it; None for similarity scores only."""
    if settings.selector is None:
        return SHIPPED_SELECTOR if SHIPPED_SELECTOR.is_file() else None
    if settings.selector.strip().lower() in ("", "none"):
        return None
    return Path(settings.selector).expanduser()


def load_selector(settings: Settings) -> Selector | None:
    from bot.core.answering.selector import Selector

    path = selector_path(settings)
    return Selector.load(path) if path else None


def reader_path(settings: Settings) -> Path | None:
    """The reader to use: the configured folder, else the shipped one if the package has
    it; None for none (similarity scores and rules)."""
    if settings.reader is None:
        return SHIPPED_READER if (SHIPPED_READER / "reader.onnx").is_file() else None
    if settings.reader.strip().lower() in ("", "none"):
        return None
    return Path(settings.reader).expanduser()


def load_reader(settings: Settings) -> Reader | None:
    from bot.core.answering.reader import READER_FILES, Reader
    from bot.core.errors import ConfigError

    path = reader_path(settings)
    if path is None:
        return None
    missing = [name for name in READER_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigError(f"reader {path}: no {missing[0]} there (a folder qabot train writes)")
    return Reader(path)


def build_embedder(settings: Settings) -> Embedder:
    from bot.core.index.embedding import Embedder

    return Embedder(embedder_settings(settings))


def preload_model(settings: Settings) -> None:
    """Load (and for torch-int8, quantise) the model now, so later timings leave it out."""
    build_embedder(settings).encode_query("load")
