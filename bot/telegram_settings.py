"""The `telegram:` settings of `qabot telegram` (pydantic, read by bot.config): kept apart so
bot/config.py stays about how settings are found and merged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts in setWebhook


class TelegramSettings(BaseModel):
    """`qabot telegram`. Every value here can be left out; only the token is needed to run."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = Field(None, description="bot token from @BotFather")
    api_base: str = "https://api.telegram.org/bot"
    file_base: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    listen: str = "127.0.0.1"  # webhook server address; 0.0.0.0 without a reverse proxy
    port: int = Field(8443, ge=1, le=65535)
    url: str | None = Field(None, description="public webhook URL Telegram posts updates to")
    path: str | None = Field(None, description="local webhook path; default: the path of url")
    secret_token: SecretStr | None = Field(None, description="unset: a random one per run")
    allowed_users: list[int] = Field(default_factory=list)
    allowed_chats: list[int] = Field(default_factory=list)
    max_question_chars: int = Field(1000, ge=1, le=4096)
    example_question: str | None = Field(None, description="shown by /start")
    # Telegram accepts about 30 messages a second from a bot across all chats and answers
    # more with "429 Too Many Requests"; the bot paces itself below that. 0: no pacing (a
    # Bot API server without the limit, such as a test server).
    max_messages_per_second: float = Field(30, ge=0, le=1000)
    # User ids that may use /stats; to anyone else it is an unknown command. Empty: nobody.
    admins: list[int] = Field(default_factory=list)
    # The bot is the one long-running qabot, so its log lines are the ones a log collector
    # reads; the other commands print for a person. json: one object a line on stderr.
    log_format: Literal["text", "json"] = "text"
    health_file: Path | None = Field(
        None, description="rewritten while the bot runs, for a supervisor; unset: none"
    )
    health_interval: float = Field(30, ge=1, le=3600, description="seconds between rewrites")
    # Conversations and "Show passage" buttons outlive a restart in this file. Unset: beside
    # the index (telegram-state.pickle); "none" or "off": kept in memory only.
    state_file: str | None = Field(None, description="unset: beside the index; none: no file")
    chats_kept: int = Field(1000, ge=1, le=1_000_000)  # the least recently active go first

    @field_validator("chats_kept", mode="before")
    @classmethod
    def _count_not_bool(cls, value: Any) -> Any:
        # YAML's `true` would pass as the number 1.
        if isinstance(value, bool):
            raise ValueError("must be a number, not true or false")
        return value

    @field_validator("state_file")
    @classmethod
    def _state_file_named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; 'none' keeps the chats in memory only")
        if value is not None and "\0" in value:
            raise ValueError("must not contain a NUL character")
        return value

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value: it is a secret.
        if (
            value is not None
            and value.get_secret_value()
            and not _BOT_TOKEN.fullmatch(value.get_secret_value())
        ):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @field_validator("secret_token")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters: letters, digits, '_' and '-'")
        return value

    @field_validator("health_file", mode="before")
    @classmethod
    def _file_not_empty(cls, value: Any) -> Any:
        # An empty path would mean the current folder, which is no file.
        if isinstance(value, str | Path) and not str(value).strip():
            raise ValueError("must not be empty (leave it out for none)")
        return value

    @field_validator("health_interval", mode="before")
    @classmethod
    def _seconds_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML's `true` would pass as 1 second
            raise ValueError("must be a number of seconds, not true or false")
        return value

    @field_validator("api_base", "file_base", "url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def state_file_off(value: str | None) -> bool:
    """`telegram.state_file: none` (or off): the bot keeps its chats in memory only."""
    return value is not None and value.strip().lower() in ("none", "off")
