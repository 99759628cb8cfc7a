"""Settings: command-line flags > QABOT_* environment variables > config file > defaults.

The config file is YAML: `--config PATH`, else $QABOT_CONFIG, else ./qabot.yaml if present.
Relative paths inside it are relative to the file, so a config works from any directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.documents.sources import read_bytes
from bot.core.errors import ConfigError, SourceError
from bot.core.settings import AnswerSettings, ChunkerSettings, EmbedderSettings, IndexSettings
from bot.telegram_settings import TelegramSettings, state_file_off

ENV_PREFIX = "QABOT_"
DEFAULT_CONFIG_FILE = Path("qabot.yaml")
# A config file is a page of settings: a megabyte is far more than any needs, and anything
# larger (or a device such as /dev/zero, or a pipe) is refused before it is read.
MAX_CONFIG_BYTES = 2**20
BUNDLED_DOCUMENT = Path(__file__).parent / "data" / "article.txt"
# The answer selector `qabot train` makes and the package ships.
SHIPPED_SELECTOR = Path(__file__).parent / "models" / "selector.json"
# The reader `qabot train` makes and the package ships (bot/models/reader/MODEL_CARD.md).
SHIPPED_READER = Path(__file__).parent / "models" / "reader"
_PATH_FIELDS = ("index_dir", "sources")
_TELEGRAM_PATH_FIELDS = ("health_file",)
# Telegram settings that are lists of ids: `QABOT_TELEGRAM_ADMINS=1,2` in the environment.
_TELEGRAM_ID_LISTS = ("allowed_users", "allowed_chats", "admins")
# The names Telegram tooling uses; the other Telegram settings are QABOT_TELEGRAM_<NAME>.
TELEGRAM_ENV = {
    "TELEGRAM_BOT_TOKEN": "token",
    "TELEGRAM_API_BASE": "api_base",
    "TELEGRAM_FILE_BASE": "file_base",
}
# The core's defaults, so that each is defined once (bot.core.settings).
_EMBED, _CHUNK, _INDEX, _ANSWER = (
    EmbedderSettings(),
    ChunkerSettings(),
    IndexSettings(),
    AnswerSettings(),
)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Files, folders or http(s) URLs (strings: a URL is not a path).
    sources: list[str] | None = Field(
        None, description="documents to index; unset: the index's own, else the bundled article"
    )
    index_dir: Path = Path("index")
    model: str = _EMBED.model
    device: str = _EMBED.device
    backend: Literal["torch", "torch-int8"] = Field(
        _EMBED.backend,
        description="torch-int8: the model's Linear layers quantised to int8 (CPU only)",
    )
    batch_size: int = Field(_EMBED.batch_size, ge=1, le=4096)
    query_precision: Literal["fp32", "int8"] = Field(
        _EMBED.query_precision, description="questions through ONNX Runtime in fp32 or int8"
    )
    max_chunk_tokens: int = Field(_CHUNK.max_tokens, ge=16, le=1024)
    min_chunk_tokens: int = Field(_CHUNK.min_tokens, ge=0, le=1024)
    top_k: int = Field(_ANSWER.top_k, ge=1, le=100)
    abstain_threshold: float = Field(_ANSWER.abstain_threshold, ge=-1.0, le=1.0)
    abstain_rise: float = Field(
        _ANSWER.abstain_rise,
        ge=0.0,
        le=1.0,
        description="added to abstain_threshold per tenfold more passages than "
        f"{_ANSWER.abstain_calibrated} searched",
    )
    max_answer_sentences: int = Field(_ANSWER.max_sentences, ge=1, le=10)
    history_turns: int = Field(_ANSWER.history_turns, ge=0, le=50)
    selector: str | None = Field(
        None,
        description="answer selector: a file written by qabot train; "
        "unset: the shipped one if there is one; 'none': similarity scores only",
    )
    selector_threshold: float | None = Field(
        _ANSWER.selector_threshold, ge=0.0, le=1.0, description="unset: the selector's own"
    )
    reader: str | None = Field(
        None,
        description="the reader: a folder written by qabot train; "
        "unset: the shipped one; 'none': answer by similarity scores and rules",
    )
    reader_threshold: float | None = Field(
        _ANSWER.reader_threshold, ge=0.0, le=1.0, description="unset: the reader's own"
    )
    auto_rebuild: bool = _INDEX.auto_rebuild
    index_type: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        _INDEX.index_type, description="flat (exact) under 50,000 passages, else HNSW, when auto"
    )
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)

    @field_validator("index_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        # An empty path would mean the current folder, which is nobody's index.
        if isinstance(value, str | Path) and not str(value).strip():
            raise ValueError("must not be empty")
        return value

    @field_validator(
        "batch_size",
        "max_chunk_tokens",
        "min_chunk_tokens",
        "top_k",
        "abstain_threshold",
        "abstain_rise",
        "max_answer_sentences",
        "history_turns",
        "selector_threshold",
        "reader_threshold",
        mode="before",
    )
    @classmethod
    def _number_not_bool(cls, value: Any) -> Any:
        # YAML's `true` would pass as the number 1: a setting meant as a number never is one.
        if isinstance(value, bool):
            raise ValueError("must be a number, not true or false")
        return value

    @model_validator(mode="after")
    def _chunk_sizes(self) -> Settings:
        if self.min_chunk_tokens > self.max_chunk_tokens:
            raise ValueError(
                f"min_chunk_tokens ({self.min_chunk_tokens}) must not exceed max_chunk_tokens "
                f"({self.max_chunk_tokens})"
            )
        return self

    @field_validator("telegram", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        # `telegram:` with every line under it commented out reads as null in YAML.
        return {} if value is None else value


def config_file(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(ENV_PREFIX + "CONFIG")
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_config_file(path: Path) -> dict[str, Any]:
    import yaml

    if path.is_dir():
        raise ConfigError(f"config file {path}: is a directory")
    try:
        # Only a regular file of at most MAX_CONFIG_BYTES: a pipe would block, a device
        # never end. The reasons read "<path>: ..." (no such file, not a regular file...).
        raw = read_bytes(path, MAX_CONFIG_BYTES).decode("utf-8")
    except SourceError as exc:
        raise ConfigError(f"config file {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}: not valid YAML{where}") from None
    except RecursionError:  # "[[[[..." thousands deep: PyYAML composes it recursively
        raise ConfigError(f"config file {path}: nested too deeply to be settings") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings at the top level")
    base = path.parent
    telegram = data.get("telegram")
    state_file = telegram.get("state_file") if isinstance(telegram, dict) else None
    if _local(state_file) and not state_file_off(state_file):
        telegram["state_file"] = _resolve(base, state_file)
    for key in _PATH_FIELDS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():  # an empty one is refused by validation
            data[key] = _resolve(base, value)
        elif isinstance(value, list):
            data[key] = [_resolve(base, v) if _local(v) else v for v in value]
    for key in _TELEGRAM_PATH_FIELDS if isinstance(telegram, dict) else ():
        value = telegram.get(key)
        if isinstance(value, str) and value.strip():
            telegram[key] = _resolve(base, value)
    return data


def _resolve(base: Path, value: str) -> str:
    try:
        return str(base / Path(value).expanduser())
    except RuntimeError:  # "~name" of no such user: a path of that name, as a shell leaves it
        return str(base / value)


def _local(value: object) -> bool:
    """A non-empty path (resolved against the config file's folder), not a URL."""
    return isinstance(value, str) and bool(value.strip()) and "://" not in value


def _from_environment() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if not raw or name == "telegram":
            continue  # an empty variable counts as unset: `QABOT_INDEX_DIR=` is not "here"
        values[name] = raw.split(os.pathsep) if name == "sources" else raw
    telegram: dict[str, Any] = {}
    for name in TelegramSettings.model_fields:
        if name in TELEGRAM_ENV.values():
            continue
        raw = os.environ.get(f"{ENV_PREFIX}TELEGRAM_{name.upper()}")
        if raw:
            telegram[name] = raw.replace(",", " ").split() if name in _TELEGRAM_ID_LISTS else raw
    for variable, name in TELEGRAM_ENV.items():
        raw = os.environ.get(variable)
        if raw:  # an empty variable counts as unset, as shells make them easily
            telegram[name] = raw
    if telegram:
        values["telegram"] = telegram
    return values


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(config: Path | None = None, **flags: Any) -> Settings:
    """Settings from every layer; flags whose value is None are not set."""
    path = config_file(config)
    layers = [
        ("config file " + str(path), _read_config_file(path) if path else {}),
        ("environment", _from_environment()),
        ("command line", {k: v for k, v in flags.items() if v is not None}),
    ]
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged = _merge(merged, layer)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        origin = next((name for name, layer in reversed(layers) if _has(layer, error["loc"])), "")
        message = (
            "unknown setting"
            if error["type"] == "extra_forbidden"
            else error["msg"].removeprefix("Value error, ")
        )
        if not field:  # a check across settings: no one of them is to blame
            raise ConfigError(f"bad settings: {message}") from None
        suffix = f" (from {origin})" if origin else ""
        raise ConfigError(f"bad setting {field!r}: {message}{suffix}") from None


def _has(layer: dict[str, Any], loc: tuple) -> bool:
    node: Any = layer
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            node = node[part]
        else:
            return False
    return True
