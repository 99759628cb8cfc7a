"""The config file: which one (`--config PATH`, else $QABOT_CONFIG, else ./qabot.yaml if
present) and its settings, read within limits. Relative paths inside it are relative to the
file, so a config works from any directory. bot.config layers what it returns under the
environment and the flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bot.core.documents.sources import read_bytes
from bot.core.errors import ConfigError, SourceError
from bot.telegram_settings import state_file_off

ENV_PREFIX = "QABOT_"
DEFAULT_CONFIG_FILE = Path("qabot.yaml")
# A config file is a page of settings: a megabyte is far more than any needs, and anything
# larger (or a device such as /dev/zero, or a pipe) is refused before it is read.
MAX_CONFIG_BYTES = 2**20
_PATH_FIELDS = ("index_dir", "sources")
_TELEGRAM_PATH_FIELDS = ("health_file",)


def config_file(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(ENV_PREFIX + "CONFIG")
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def read_config_file(path: Path | None) -> dict[str, Any]:
    """The config file's settings, read as pydantic-settings' YamlConfigSettingsSource reads
    them but within limits: a regular file of at most MAX_CONFIG_BYTES, no deeper than PyYAML
    can compose, every problem one line naming the file."""
    import yaml

    if path is None:
        return {}
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
    for key in data:  # `1: 2` would reach Settings(**values), which takes names only
        if not isinstance(key, str):
            raise ConfigError(
                f"bad setting {str(key)!r}: unknown setting (from config file {path})"
            )
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
