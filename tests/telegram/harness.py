"""Running the real Telegram bot against the fake Bot API server: shared by the end-to-end
tests and the load run."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

from telegram.ext import Application

from bot.config import Settings
from bot.service import QAService
from bot.telegram.app import build_application, polling_options
from bot.telegram.redact import redacting
from tests.telegram.fake_server import TOKEN, FakeTelegram


def settings_for(server: FakeTelegram, **telegram: Any) -> Settings:
    """The bot's settings against `server`; no state file unless a test names one, since
    beside the index would be beside the index the whole session shares."""
    return Settings.model_validate(
        {
            "telegram": {
                "token": TOKEN,
                "api_base": server.api_base,
                "file_base": server.file_base,
                "state_file": "none",
                **telegram,
            }
        }
    )


@contextlib.asynccontextmanager
async def polling(server: FakeTelegram, engine: Any, **telegram: Any) -> AsyncIterator[Application]:
    """The bot polling `server`, started and stopped the way run_polling does it."""
    # Redaction first, as in `qabot telegram`: building the Bot already logs its URLs.
    with redacting([TOKEN]):
        app = build_application(QAService(engine), settings_for(server, **telegram))
        async with app:
            await app.post_init(app)
            await app.updater.start_polling(poll_interval=0, **polling_options(poll_timeout=1))
            await app.start()
            try:
                yield app
            finally:
                await app.updater.stop()
                await app.stop()
                await app.post_shutdown(app)


@contextlib.asynccontextmanager
async def polling_bot(
    engine: Any, **telegram: Any
) -> AsyncIterator[tuple[FakeTelegram, Application]]:
    """A fresh fake server and the bot polling it."""
    async with FakeTelegram() as server, polling(server, engine, **telegram) as app:
        yield server, app


def serve_process(env: dict[str, str], *args: str) -> subprocess.Popen:
    """A real `qabot telegram` process with `env` added to this one's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_process(process: subprocess.Popen, sig: int) -> tuple[str, str]:
    """Send `sig` and collect the output (killed if it does not stop in 30 s)."""
    process.send_signal(sig)
    try:
        return process.communicate(timeout=30)
    finally:
        process.kill()
