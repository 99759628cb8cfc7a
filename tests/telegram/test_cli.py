"""`qabot telegram` as a command: settings, one-line errors (missing or rejected token, bad
settings), the token kept out of every output, and a real process served by polling and by
webhook, stopped by SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_settings
from tests.conftest import heavy_imports, run_cli
from tests.telegram.fake_server import TOKEN, FakeTelegramThread
from tests.telegram.harness import serve_process, stop_process

OTHER_TOKEN = "987654321:WRONG-token_zyxwvutsrqponmlkjihgfe"


run = run_cli


def test_missing_token_is_one_line(capfd):
    code, out, err = run(capfd, "telegram")
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: no Telegram bot token: set TELEGRAM_BOT_TOKEN (get one from @BotFather) "
        "or telegram.token in the config file"
    )


def test_rejected_token_is_one_line_and_never_shown(capfd, monkeypatch):
    with FakeTelegramThread() as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", OTHER_TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE", server.api_base)
        code, out, err = run(capfd, "telegram")
        assert server.rejected_tokens == [OTHER_TOKEN]  # it did ask Telegram
    assert code == 1
    assert err.strip().splitlines() == [
        "error: Telegram rejected the bot token (TELEGRAM_BOT_TOKEN); check it with @BotFather"
    ]
    assert OTHER_TOKEN not in out + err and OTHER_TOKEN.split(":")[1] not in out + err


def test_unreachable_api_is_one_line(capfd, monkeypatch):
    with FakeTelegramThread() as server:
        dead = server.api_base  # the port is free again once the server is gone
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE", dead)
    code, out, err = run(capfd, "telegram")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: cannot reach the Telegram Bot API at {dead}")
    assert TOKEN not in err


@pytest.mark.parametrize(
    ("env", "config", "message"),
    [
        ({"QABOT_TELEGRAM_MODE": "pigeon"}, None, "bad setting 'telegram.mode'"),
        ({"QABOT_TELEGRAM_MODE": "webhook"}, None, "bad setting 'telegram.url'"),
        ({"TELEGRAM_BOT_TOKEN": "not a token"}, None, "bad setting 'telegram.token'"),
        ({"TELEGRAM_API_BASE": "ftp://x"}, None, "bad setting 'telegram.api_base'"),
        ({}, "telegram:\n  allowed_users: [alice]\n", "bad setting 'telegram.allowed_users.0'"),
        ({}, "telegram:\n  colour: blue\n", "bad setting 'telegram.colour': unknown setting"),
        ({}, "telegram:\n  secret_token: 'has space'\n", "bad setting 'telegram.secret_token'"),
    ],
)
def test_bad_settings_are_one_line(capfd, monkeypatch, tmp_path, env, config, message):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = ["telegram"]
    if config is not None:
        (tmp_path / "bot.yaml").write_text(config)
        args = ["--config", str(tmp_path / "bot.yaml"), *args]
    code, out, err = run(capfd, *args)
    assert code == 1 and out == "" and message in err and len(err.strip().splitlines()) == 1
    assert "not a token" not in err and TOKEN not in err


def test_settings_precedence(tmp_path, monkeypatch):
    config = tmp_path / "qabot.yaml"
    config.write_text(
        "telegram:\n  api_base: http://config.invalid/bot\n  mode: webhook\n"
        "  allowed_users: [1, 2]\n  max_question_chars: 500\n"
    )
    settings = load_settings(config)
    assert settings.telegram.api_base == "http://config.invalid/bot"
    assert settings.telegram.allowed_users == [1, 2] and settings.telegram.token is None

    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:8081/bot")
    monkeypatch.setenv("TELEGRAM_FILE_BASE", "http://127.0.0.1:8081/file/bot")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("QABOT_TELEGRAM_ALLOWED_CHATS", "-100, 7")
    monkeypatch.setenv("QABOT_TELEGRAM_MODE", "polling")
    settings = load_settings(config)
    tg = settings.telegram
    assert tg.api_base == "http://127.0.0.1:8081/bot"  # environment beats the file
    assert tg.file_base == "http://127.0.0.1:8081/file/bot"
    assert tg.token is not None and tg.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert tg.allowed_chats == [-100, 7] and tg.max_question_chars == 500
    assert tg.mode == "polling"
    flagged = load_settings(config, telegram={"mode": "webhook"})  # flag beats environment
    assert flagged.telegram.mode == "webhook" and flagged.telegram.allowed_chats == [-100, 7]

    # An empty `telegram:` section (all of it commented out) is no error.
    config.write_text("telegram:\n#  token: ...\n")
    assert load_settings(config).telegram.mode == "polling"


def test_help_does_not_import_telegram_or_torch():
    for args in (["--help"], ["telegram", "--help"]):
        assert heavy_imports(args, {"torch", "telegram", "sentence_transformers"}) == set()


# --- a real `qabot telegram` process ---------------------------------------------------------


def webhook_env(index_env: dict[str, str], server, port: int) -> dict[str, str]:
    """A `qabot telegram --mode webhook` process's environment: the fake server, a port."""
    return {
        **index_env,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": server.api_base,
        "QABOT_TELEGRAM_URL": "https://bot.example.org/qa",
        "QABOT_TELEGRAM_PORT": str(port),
    }


def test_process_polls_answers_and_stops_on_sigterm(index_env):
    thread = FakeTelegramThread()
    with thread as server:
        env = {**index_env, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": server.api_base}
        process = serve_process(env, "--verbose")  # debug logs: the token must stay out of them too
        try:
            thread.call(server.wait_calls("setMyCommands", timeout=90), timeout=100)
            message = thread.do(lambda: server.message("Who is China's ambassador to Japan?"))
            reply = thread.call(server.reply_to(message, timeout=30))
            assert "Cheng Yonghua" in reply["text"]
        finally:
            out, err = stop_process(process, signal.SIGTERM)
    assert process.returncode == 0, err
    assert "@qa_test_bot answers questions about article.txt (32 passages), by polling" in err
    assert "Application.stop() complete" in err and "Traceback" not in err
    assert "[REDACTED]" in err  # PTB logged its URLs at debug level, redacted
    assert TOKEN not in out + err and TOKEN.split(":")[1] not in out + err


def test_process_serves_a_webhook_and_stops_on_sigint(index_env):
    from tests.telegram.test_bot import free_port

    port = free_port()
    secret = "hook-Secret_42"
    thread = FakeTelegramThread()
    with thread as server:
        env = {**webhook_env(index_env, server, port), "QABOT_TELEGRAM_SECRET_TOKEN": secret}
        process = serve_process(env, "--mode", "webhook")
        try:
            thread.call(server.wait_calls("setMyCommands", timeout=90), timeout=100)
            thread.call(server.wait_for(lambda: server.webhook, timeout=30))
            assert server.webhook["url"] == "https://bot.example.org/qa"
            assert server.webhook["secret_token"] == secret
            message = thread.do(lambda: server.message("Who is Koichi Nakano?", deliver=False))

            async def post() -> int:
                # PTB calls setWebhook before its server listens; Telegram would retry too.
                for _ in range(200):
                    try:
                        async with (
                            aiohttp.ClientSession() as http,
                            http.post(
                                f"http://127.0.0.1:{port}/qa",
                                json={"update_id": 1, "message": message},
                                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
                            ) as response,
                        ):
                            return response.status
                    except aiohttp.ClientConnectorError:
                        await asyncio.sleep(0.05)
                raise AssertionError("the webhook server never listened")

            assert thread.call(post()) == 200
            reply = thread.call(server.reply_to(message, timeout=30))
            assert "Sophia University" in reply["text"]
            # It answered without PyTorch: no libtorch is mapped into the bot's process.
            maps = Path(f"/proc/{process.pid}/maps").read_text()
            assert "libtorch" not in maps and "onnxruntime" in maps
        finally:
            out, err = stop_process(process, signal.SIGINT)
    assert process.returncode == 0, err
    assert "by webhook" in err and "Traceback" not in err
    assert TOKEN not in out + err and secret not in out + err


def test_every_telegram_setting_is_documented():
    from bot.config import TelegramSettings
    from tests.conftest import REPO

    example = REPO / "config.example.yaml"
    assert load_settings(example).telegram == TelegramSettings()  # it shows the defaults
    text, page = example.read_text(), (REPO / "docs" / "settings.md").read_text()
    for name in TelegramSettings.model_fields:
        assert f"{name}:" in text, name
        assert f"telegram.{name}`" in page, name


def test_a_busy_webhook_port_is_named(index_env):
    """The webhook server's port is taken: one line naming it, exit 1, no traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        thread = FakeTelegramThread()
        with thread as server:
            process = serve_process(webhook_env(index_env, server, port), "--mode", "webhook")
            out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: cannot listen on 127.0.0.1:") and str(port) in last
    assert "Traceback" not in err and "unexpected" not in err and TOKEN not in out + err


def _echoing_api(spell):
    """A Bot API stand-in on 127.0.0.1 that answers every request with garbage echoing the
    request's path, spelled by `spell(path) -> (status, content type, body)`."""
    import http.server
    import threading

    class Echo(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            status, kind, body = spell(self.path)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:  # the test's output is what is checked
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _quoted(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


# How a misbehaving server or proxy may echo the request path (which holds the token).
ECHOES = {
    "plain text": lambda p: (200, "text/plain", f"no such thing: {p}"),
    "lower-cased": lambda p: (200, "text/plain", f"cannot route {p.lower()}"),
    "upper-cased": lambda p: (502, "text/html", f"<h1>BAD GATEWAY {p.upper()}</h1>"),
    "colon encoded": lambda p: (200, "text/plain", p.replace(":", "%3A")),
    "colon encoded lower": lambda p: (404, "text/plain", p.replace(":", "%3a")),
    "all encoded": lambda p: (500, "text/plain", _quoted(p)),
    "encoded twice": lambda p: (200, "text/plain", _quoted(_quoted(p))),
    "json escaped": lambda p: (200, "application/json", p.replace(":", "\\u003a")[:-1] + "{"),
    "json description": lambda p: (
        400,
        "application/json",
        json.dumps({"ok": False, "description": f"bad path {p}"}),
    ),
    "split at the colon": lambda p: (200, "text/plain", " ".join(p.split(":"))),
}


@pytest.mark.parametrize("command", [["telegram", "--check"], ["telegram"]])
@pytest.mark.parametrize("echo", list(ECHOES))
def test_the_token_never_shows_whatever_the_api_answers(tmp_path, command, echo):
    """The fake API answers garbage that echoes the token in some spelling: `--check` and
    start-up print one line, no traceback, and the token in no spelling."""
    import os
    import subprocess
    import sys

    server = _echoing_api(ECHOES[echo])
    try:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": f"http://127.0.0.1:{server.server_port}/bot",
            "QABOT_INDEX_DIR": str(tmp_path / "index"),
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
    shown = done.stdout + done.stderr
    assert done.returncode == 1, shown
    assert len(done.stderr.strip().splitlines()) == 1, shown
    assert "Traceback" not in shown and "unexpected" not in shown, shown
    secret = TOKEN.split(":")[1]
    folded = shown.lower().replace("%25", "%").replace("%3a", ":").replace("\\u003a", ":")
    from urllib.parse import unquote

    for text in (shown, folded, unquote(unquote(shown)).lower()):
        assert secret.lower() not in text.lower(), shown
