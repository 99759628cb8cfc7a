"""Settings: command-line flags > QABOT_* environment variables > config file > defaults.

The config file is YAML: `--config PATH`, else $QABOT_CONFIG, else ./qabot.yaml if present.
Relative paths inside it are relative to the file, so a config works from any directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import ConfigError

ENV_PREFIX = "QABOT_"
DEFAULT_CONFIG_FILE = Path("qabot.yaml")
BUNDLED_DOCUMENT = Path(__file__).parent / "data" / "article.txt"
_PATH_FIELDS = ("index_dir", "sources")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[Path] | None = Field(
        None, description="documents to index; unset: the index's own, else the bundled article"
    )
    index_dir: Path = Path("index")
    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    device: str = "cpu"
    batch_size: int = Field(32, ge=1, le=4096)
    max_chunk_tokens: int = Field(200, ge=16, le=1024)
    min_chunk_tokens: int = Field(24, ge=0, le=1024)
    top_k: int = Field(5, ge=1, le=100)
    abstain_threshold: float = Field(0.32, ge=-1.0, le=1.0)
    max_answer_sentences: int = Field(3, ge=1, le=10)
    history_turns: int = Field(3, ge=0, le=50)
    auto_rebuild: bool = True


def config_file(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(ENV_PREFIX + "CONFIG")
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_config_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings at the top level")
    base = path.parent
    for key in _PATH_FIELDS:
        value = data.get(key)
        if isinstance(value, str):
            data[key] = str(base / Path(value).expanduser())
        elif isinstance(value, list):
            data[key] = [
                str(base / Path(v).expanduser()) if isinstance(v, str) else v for v in value
            ]
    return data


def _from_environment() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        values[name] = raw.split(os.pathsep) if name == "sources" else raw
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
        message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
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
