"""Settings: command-line flags > QABOT_* environment variables > config file > defaults.

The config file is YAML: `--config PATH`, else $QABOT_CONFIG, else ./qabot.yaml if present
(bot.config_file reads it; relative paths inside it are relative to the file).

pydantic-settings does the layering: `Settings(**flags)` reads each source `_layers` names
and merges them key by key, `telegram:` included. `load_settings` is how qabot calls it: what
is wrong becomes one line naming the setting and where it came from. The settings the core
reads are not declared here: each is a field of bot.core.settings marked `setting(...)`, and
`_core_fields` makes it a field of `Settings` with that type, default and bounds.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.config_file import ENV_PREFIX, config_file, read_config_file
from bot.core import settings as core
from bot.core.errors import ConfigError
from bot.telegram_settings import TelegramSettings

BUNDLED_DOCUMENT = Path(__file__).parent / "data" / "article.txt"
# The answer selector `qabot train` makes and the package ships.
SHIPPED_SELECTOR = Path(__file__).parent / "models" / "selector.json"
# The reader `qabot train` makes and the package ships (bot/models/reader/MODEL_CARD.md).
SHIPPED_READER = Path(__file__).parent / "models" / "reader"
# Telegram settings that are lists of ids: `QABOT_TELEGRAM_ADMINS=1,2` in the environment.
_TELEGRAM_ID_LISTS = ("allowed_users", "allowed_chats", "admins")
# The names Telegram tooling uses; the other Telegram settings are QABOT_TELEGRAM_<NAME>.
TELEGRAM_ENV = {
    "TELEGRAM_BOT_TOKEN": "token",
    "TELEGRAM_API_BASE": "api_base",
    "TELEGRAM_FILE_BASE": "file_base",
}


def _not_bool(value: Any) -> Any:
    # YAML's `true` would pass as the number 1: a setting meant as a number never is one.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


def _core_fields() -> dict[str, Any]:
    """A field of `Settings` for each user setting of the core's classes: the type and default
    of the core's field, its bounds, its choices as a Literal; a number refuses true and false."""
    made: dict[str, Any] = {}
    for cls in core.SETTINGS_CLASSES:
        types = get_type_hints(cls)  # the core's annotations are strings (__future__)
        for name, field in core.user_settings(cls).items():
            mark = field.metadata[core.SETTING]
            kind: Any = Literal[mark["choices"]] if mark["choices"] else types[field.name]
            if kind in (int, float, int | None, float | None):
                kind = Annotated[kind, BeforeValidator(_not_bool)]
            made[name] = (kind, Field(field.default, ge=mark["ge"], le=mark["le"]))
    return made


_CoreSettings = create_model("_CoreSettings", __base__=BaseSettings, **_core_fields())


class Settings(_CoreSettings):
    """Every setting: the core's (from bot.core.settings, see the module's docstring) and
    the ones below, which only front ends and the service read.

    `Settings(**flags)` reads every layer; `_config_file=PATH` names the config file, as
    `--config` does (in the manner of pydantic-settings' own `_env_file=`).
    `Settings.model_validate(values)` reads none: the values, checked.
    """

    # QABOT_<NAME>, and QABOT_TELEGRAM_<NAME> for telegram.<name> (split once only); an
    # empty variable counts as unset, as shells make them easily. Names as written in a file
    # or a flag (`TOP_K:` is no setting); _Environment reads variables in any case.
    model_config = SettingsConfigDict(
        extra="forbid",
        case_sensitive=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_ignore_empty=True,
    )

    # Files, folders or http(s) URLs (strings: a URL is not a path); unset: the index's own,
    # else the bundled article.
    sources: list[str] | None = None
    index_dir: Path = Path("index")
    # A file `qabot train --selector` writes; unset: the shipped one if any; "none": none.
    selector: str | None = None
    # A folder `qabot train` writes; unset: the shipped one if any; "none": rules only.
    reader: str | None = None
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)

    @field_validator("index_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        # An empty path would mean the current folder, which is nobody's index.
        if isinstance(value, str | Path) and not str(value).strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("telegram", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        # `telegram:` with every line under it commented out reads as null in YAML.
        return {} if value is None else value

    @model_validator(mode="after")
    def _chunk_sizes(self) -> Settings:
        if self.min_chunk_tokens > self.max_chunk_tokens:
            raise ValueError(
                f"min_chunk_tokens ({self.min_chunk_tokens}) must not exceed max_chunk_tokens "
                f"({self.max_chunk_tokens})"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Our own environment and file sources; no .env file, no secrets folder.
        flags = dict(getattr(init_settings, "init_kwargs", {}))
        path = config_file(flags.pop("_config_file", None))
        return tuple(_layers(settings_cls, path, flags).values())


def _layers(settings_cls: Any, path: Path | None, flags: dict) -> dict[str, Any]:
    """The sources of settings, highest first, by the name an error gives its origin
    (pydantic-settings adds the defaults below them)."""
    return {
        "command line": InitSettingsSource(settings_cls, flags),
        "environment": _Environment(settings_cls),
        f"config file {path}": InitSettingsSource(settings_cls, read_config_file(path)),
    }


class _Environment(EnvSettingsSource):
    """The environment as Settings.model_config says, but: the three telegram settings that
    Telegram's tooling names are read by those names (TELEGRAM_ENV), other QABOT_TELEGRAM_*
    variables that name no setting are nothing, and lists are written as in a shell, not
    JSON: QABOT_SOURCES as paths separated by ':', the id lists by commas or spaces."""

    def __init__(self, settings_cls: Any):
        super().__init__(settings_cls, case_sensitive=False)  # QABOT_TOP_K is top_k

    def explode_env_vars(self, field_name: str, field: Any, env_vars: Any) -> dict[str, Any]:
        if field_name != "telegram":  # the only section: QABOT_SOURCES_X is nothing
            return {}
        found = super().explode_env_vars(field_name, field, env_vars)
        own = set(TelegramSettings.model_fields) - set(TELEGRAM_ENV.values())
        values = {name: value for name, value in found.items() if name in own}
        for variable, name in TELEGRAM_ENV.items():
            if env_vars.get(variable.lower()):
                values[name] = env_vars[variable.lower()]
        return values

    def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
        if field_name == "sources":
            return value.split(os.pathsep)
        if field_name in _TELEGRAM_ID_LISTS:
            return value.replace(",", " ").split()
        if field_name == "telegram":  # QABOT_TELEGRAM itself is nothing
            return {}
        return super().decode_complex_value(field_name, field, value)


def load_settings(config: Path | None = None, **flags: Any) -> Settings:
    """Settings from every layer; flags whose value is None are not set. Whatever is wrong
    is a one-line ConfigError naming the setting and the layer it came from."""
    path = config_file(config)
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(_config_file=path, **given)
    except SettingsError as exc:  # a source that could not make sense of a value
        raise ConfigError(f"bad settings: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error["loc"]
        field = ".".join(str(part) for part in loc)
        if error["type"] == "extra_forbidden":
            message = "unknown setting" + _did_you_mean(loc)
        else:
            message = error["msg"].removeprefix("Value error, ")
        if not field:  # a check across settings: no one of them is to blame
            raise ConfigError(f"bad settings: {message}") from None
        layers = _layers(Settings, path, given).items()
        origin = next((name for name, source in layers if _has(source(), loc)), "")
        suffix = f" (from {origin})" if origin else ""
        raise ConfigError(f"bad setting {field!r}: {message}{suffix}") from None


def _did_you_mean(loc: tuple) -> str:
    """`topk` → ", did you mean 'top_k'?": the closest setting of the same section, if any."""
    model: Any = TelegramSettings if loc[0] == "telegram" and len(loc) > 1 else Settings
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f", did you mean {close[0]!r}?" if close else ""


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
