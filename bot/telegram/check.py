"""`qabot telegram --check`: would the bot start and answer? Settings, token (getMe) and
index, checked without loading the model or starting the bot, in one line.

It passes when the bot would start answering: an index that is missing, damaged, or out of
date with `auto_rebuild` off fails, as `qabot telegram` would; one out of date with
`auto_rebuild` on passes, saying the bot rebuilds it when it starts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bot import service
from bot.core.errors import ConfigError, IndexStoreError
from bot.telegram.app import check_settings, check_token

if TYPE_CHECKING:
    from bot.config import Settings, TelegramSettings


def check(settings: Settings) -> str:
    """The `ok: …` line; a QABotError (one line, no token in it) for the first problem."""
    tg = settings.telegram
    check_settings(tg)
    username = check_token(tg)
    parts = [f"ok: token accepted for @{username}", f"mode {tg.mode}", describe_index(settings)]
    if tg.health_file is not None:
        parts.append(check_health_folder(tg))
    return "; ".join(parts)


def describe_index(settings: Settings) -> str:
    try:
        report = service.status(settings)  # reads the manifest and hashes the data: no model
    except IndexStoreError as exc:
        raise IndexStoreError(f"index: {exc}") from None
    if report.damage:
        raise IndexStoreError(
            f"index in {report.index_dir} is damaged ({report.damage}); "
            "rebuild it: qabot index rebuild"
        )
    manifest = report.manifest
    documents = len(manifest.sources)
    counts = f"{manifest.chunk_count} passages, {documents} document{'s' * (documents != 1)}"
    if report.up_to_date:
        return f"index ok ({counts})"
    if not settings.auto_rebuild:
        raise IndexStoreError(
            f"index in {report.index_dir} is out of date ({report.reasons[0]}) and "
            "auto_rebuild is off; rebuild it: qabot index rebuild"
        )
    return f"index out of date ({report.reasons[0]}; {counts}): the bot rebuilds it at start"


def check_health_folder(tg: TelegramSettings) -> str:
    """The folder must take the file; the file itself is left alone (a bot may be running)."""
    path = tg.health_file
    assert path is not None
    folder = path.parent
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"bad setting 'telegram.health_file': cannot write {path} (is {folder} a folder "
            "this user may write to?)"
        )
    return f"health file {path}"
