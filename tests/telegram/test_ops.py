"""Operating the bot: `qabot telegram --check` and `--health`, /stats for admins, JSON log
lines, the health file, and the shipped systemd unit. The bot is the real one, against the
fake Bot API server, in front of the real engine (or a real `qabot telegram` process)."""

from __future__ import annotations

import configparser
import json
import logging
import re
import signal
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.core.errors import ConfigError
from bot.telegram.health import HealthError, HealthReporter, check_health
from bot.telegram.redact import JsonFormatter, Redactor, bot_logging
from bot.telegram.stats import Stats, percentile
from tests.conftest import REPO, heavy_imports, run_cli
from tests.telegram.fake_server import OTHER_USER, STRANGER, TOKEN, USER, FakeTelegramThread
from tests.telegram.harness import polling_bot, serve_process, stop_process
from tests.telegram.test_bot import AMBASSADOR, _command, run
from tests.telegram.test_cli import OTHER_TOKEN

OFF_TOPIC = "What is the capital of France?"  # the article does not say: an abstention
UNKNOWN = "I don't know that command. /help lists what I can do."


def _secret_free(text: str) -> bool:
    return TOKEN not in text and TOKEN.split(":")[1] not in text


# --- qabot telegram --check --------------------------------------------------------------------


def test_check_with_a_good_token_prints_one_line_and_starts_nothing(
    capfd, monkeypatch, article_index_dir
):
    thread = FakeTelegramThread()
    with thread as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE", server.api_base)
        monkeypatch.setenv("QABOT_INDEX_DIR", str(article_index_dir))
        code, out, err = run_cli(capfd, "telegram", "--check")
        assert (code, err) == (0, "")
        assert out == (
            "ok: token accepted for @qa_test_bot; mode polling; "
            "index ok (32 passages, 1 document)\n"
        )
        # It asked Telegram who the token is, and started nothing: no polling, no commands.
        assert [c.method for c in server.calls] == ["getMe"]
        # The index is checked without the model: no torch, no sentence-transformers.
        heavy = {"torch", "sentence_transformers", "onnxruntime"}
        assert heavy_imports(["telegram", "--check"], heavy) == set()


def test_check_with_a_rejected_token_is_one_line_without_the_token(
    capfd, monkeypatch, article_index_dir
):
    with FakeTelegramThread() as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", OTHER_TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE", server.api_base)
        monkeypatch.setenv("QABOT_INDEX_DIR", str(article_index_dir))
        code, out, err = run_cli(capfd, "telegram", "--check")
        assert server.rejected_tokens == [OTHER_TOKEN]
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "error: Telegram rejected the bot token (TELEGRAM_BOT_TOKEN); check it with @BotFather"
    ]
    assert OTHER_TOKEN not in err and OTHER_TOKEN.split(":")[1] not in err


def test_check_fails_on_an_index_the_bot_could_not_answer_from(capfd, monkeypatch, tmp_path):
    with FakeTelegramThread() as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE", server.api_base)
        monkeypatch.setenv("QABOT_INDEX_DIR", str(tmp_path / "nothing-here"))
        code, out, err = run_cli(capfd, "telegram", "--check")
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: index: no index in ") and "qabot index rebuild" in err
    assert "Traceback" not in err and _secret_free(err)


def test_check_fails_on_a_health_file_it_cannot_write(capfd, monkeypatch, article_index_dir):
    with FakeTelegramThread() as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE", server.api_base)
        monkeypatch.setenv("QABOT_INDEX_DIR", str(article_index_dir))
        monkeypatch.setenv("QABOT_TELEGRAM_HEALTH_FILE", "/nonexistent/folder/health.json")
        code, out, err = run_cli(capfd, "telegram", "--check")
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: bad setting 'telegram.health_file': cannot write")


# --- /stats -----------------------------------------------------------------------------------


def test_stats_shows_admins_the_numbers_and_is_unknown_to_everyone_else(engine):
    async def ask(server, text: str, user: dict = USER) -> str:
        entities = [_command(text)] if text.startswith("/") else None
        return (await server.reply_to(server.message(text, entities=entities, user=user)))["text"]

    async def scenario():
        # The admin is not on the allow-list: /stats answers admins all the same.
        admins = {"admins": [USER["id"]], "allowed_users": [OTHER_USER["id"]]}
        async with polling_bot(engine, **admins) as (server, _app):
            # The public menu has no /stats; the admin's own menu has it.
            public, *scoped = server.calls_of("setMyCommands")
            assert "stats" not in [c["command"] for c in public.params["commands"]]
            assert "scope" not in public.params
            [admin_menu] = scoped
            assert admin_menu.params["scope"] == {"type": "chat", "chat_id": USER["id"]}
            assert [c["command"] for c in admin_menu.params["commands"]][-1] == "stats"

            empty = await ask(server, "/stats")
            assert "Questions answered: 0" in empty and "Answer time (engine): none yet" in empty

            assert "Cheng Yonghua" in await ask(server, AMBASSADOR, OTHER_USER)
            assert (await ask(server, OFF_TOPIC, OTHER_USER)).startswith("The document doesn't")
            assert "Sophia University" in await ask(server, "Who is Koichi Nakano?", OTHER_USER)
            assert (await ask(server, AMBASSADOR)).startswith("Sorry, this bot is private")

            text = await ask(server, "/stats")
            assert "Questions answered: 3" in text
            assert "The document doesn't say: 1 (33%)" in text
            for label in ("Answer time (engine)", "Reply time (question to reply sent)"):
                pattern = rf"{re.escape(label)}: p50 (\d+) ms, p95 (\d+) ms \(last 3\)"
                match = re.search(pattern, text)
                assert match, text
                assert int(match[1]) <= int(match[2])
            assert re.search(r"Up \d+ s, since \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
            manifest = engine.index.manifest
            assert f"Index: build {manifest.build_id}, built {manifest.built_at}" in text
            assert "32 passages" in text and "Documents (1): article.txt" in text

            # Not an admin (allowed, or not even that): exactly what an unknown command gets.
            assert await ask(server, "/stats", OTHER_USER) == UNKNOWN
            assert await ask(server, "/frobnicate", OTHER_USER) == UNKNOWN
            refused = await ask(server, "/stats", STRANGER)
            assert refused == await ask(server, "/frobnicate", STRANGER)
            assert refused.startswith("Sorry, this bot is private")

    run(scenario())


def test_stats_is_unknown_to_everyone_when_there_are_no_admins(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            message = server.message("/stats", entities=[_command("/stats")])
            assert (await server.reply_to(message))["text"] == UNKNOWN
            assert len(server.calls_of("setMyCommands")) == 1  # no admin menus

    run(scenario())


def test_stats_keeps_a_bounded_number_of_times():
    stats = Stats()
    answer = type("A", (), {"abstained": False, "timings_ms": {"total": 1.0}})()
    for i in range(2500):
        stats.record(answer, float(i))  # type: ignore[arg-type]
    assert stats.questions == 2500 and len(stats.reply_ms) == 1000
    assert min(stats.reply_ms) == 1500  # the most recent ones
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3 and percentile([], 0.95) is None
    assert percentile(range(1, 101), 0.95) == 95


# --- JSON log lines ---------------------------------------------------------------------------


def test_json_log_lines_never_carry_the_token(capfd):
    log = logging.getLogger("bot.telegram")
    with bot_logging([TOKEN], log_format="json"):
        log.info("GET https://api.telegram.org/bot%s/getMe", TOKEN)
        try:
            raise RuntimeError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getUpdates")
        except RuntimeError:
            log.exception("polling failed for %s", TOKEN)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn(f"a library warns with {TOKEN}", UserWarning, stacklevel=1)
    _out, err = capfd.readouterr()
    entries = [json.loads(line) for line in err.splitlines()]
    assert len(entries) == 3 and all(isinstance(e, dict) for e in entries)
    first, failure, warned = entries
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["message"] == "GET https://api.telegram.org/bot[REDACTED]/getMe"
    assert first["level"] == "INFO" and first["logger"] == "bot.telegram"
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert failure["level"] == "ERROR" and "Traceback" in failure["exception"]
    assert (
        "RuntimeError: cannot reach https://api.telegram.org/bot[REDACTED]"
        in (failure["exception"])
    )
    assert warned["logger"] == "py.warnings" and "[REDACTED]" in warned["message"]
    assert _secret_free(err)

    # A record made outside the logging machinery (no redacting factory, no filter): the
    # formatter itself still scrubs the line, exception text included.
    try:
        raise ValueError(TOKEN)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "token %s", (TOKEN,), sys.exc_info())
    line = JsonFormatter(Redactor([TOKEN])).format(record)
    assert _secret_free(line) and json.loads(line)["exception"].endswith("ValueError: [REDACTED]")


def test_process_with_json_logs_writes_only_json_lines_and_no_token(index_env):
    thread = FakeTelegramThread()
    with thread as server:
        env = {
            **index_env,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": server.api_base,
            "QABOT_TELEGRAM_LOG_FORMAT": "json",
        }
        process = serve_process(env, "--verbose")  # PTB's debug lines carry the token in its URLs
        try:
            thread.call(server.wait_calls("setMyCommands", timeout=90), timeout=100)
            message = thread.do(lambda: server.message(AMBASSADOR))
            assert "Cheng Yonghua" in thread.call(server.reply_to(message, timeout=30))["text"]
        finally:
            out, err = stop_process(process, signal.SIGTERM)
    assert process.returncode == 0, err
    assert out == "" and _secret_free(err)
    entries = [json.loads(line) for line in err.splitlines()]  # each line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    messages = [e["message"] for e in entries]
    assert any("answers questions about article.txt (32 passages)" in m for m in messages)
    answered = r"chat 111: answered with \d citation\(s\) in \d+ ms"
    assert any(re.fullmatch(answered, m) for m in messages)
    assert any("[REDACTED]" in m for m in messages)  # the URLs were logged, redacted
    assert "Application.stop() complete" in messages


# --- the health file ---------------------------------------------------------------------------


def test_health_file_is_written_refreshed_and_marked_stopped(
    index_env, tmp_path, capfd, monkeypatch
):
    health = tmp_path / "run" / "health.json"
    health.parent.mkdir()
    thread = FakeTelegramThread()
    with thread as server:
        env = {
            **index_env,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": server.api_base,
            "QABOT_TELEGRAM_HEALTH_FILE": str(health),
            "QABOT_TELEGRAM_HEALTH_INTERVAL": "1",
        }
        monkeypatch.setenv("QABOT_TELEGRAM_HEALTH_FILE", str(health))  # for --health here
        process = serve_process(env)
        try:
            thread.call(server.wait_calls("setMyCommands", timeout=90), timeout=100)
            first = _wait(lambda: _health(health, "ok"))
            assert first["pid"] == process.pid and first["mode"] == "polling"
            assert first["questions"] == 0 and first["interval_s"] == 1
            from bot.core.index.snapshot import current_build

            assert first["build_id"] == current_build(Path(index_env["QABOT_INDEX_DIR"]))

            message = thread.do(lambda: server.message(AMBASSADOR))
            thread.call(server.reply_to(message, timeout=30))
            later = _wait(
                lambda: (
                    (h := _health(health, "ok"))
                    and h["questions"] == 1
                    and h["updated_at"] != first["updated_at"]
                    and h
                )
            )
            assert later["uptime_s"] > first["uptime_s"]
            code, out, err = run_cli(capfd, "telegram", "--health")
            assert (code, err) == (0, "") and out.startswith(f"ok: pid {process.pid}, up ")
            assert "1 questions" in out
        finally:
            _out, err = stop_process(process, signal.SIGTERM)
    assert process.returncode == 0, err
    stopped = json.loads(health.read_text())
    assert stopped["status"] == "stopped" and stopped["questions"] == 1
    assert [p.name for p in health.parent.iterdir()] == ["health.json"]  # no temporary left
    code, out, err = run_cli(capfd, "telegram", "--health")
    assert code == 1 and out == "" and err.startswith("error: the bot stopped at ")
    assert _secret_free(health.read_text() + err)


def _wait(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    """For the health file, which the fake server does not see change."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


def _health(path: Path, status: str) -> dict | None:
    """The health file's content if it says `status` (None while it is not there yet)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data if data["status"] == status else None


def test_health_check_says_what_is_wrong(tmp_path, monkeypatch):
    path = tmp_path / "health.json"
    with pytest.raises(HealthError, match=r"no health file at .*: the bot is not running"):
        check_health(path)
    reporter = HealthReporter(path, 30, "webhook")
    reporter.write("starting")
    with pytest.raises(HealthError, match="is starting"):
        check_health(path)
    reporter.write("ok")
    assert check_health(path).startswith("ok: pid ")
    # A supervisor runs the check often: it loads neither python-telegram-bot nor the model.
    monkeypatch.setenv("QABOT_TELEGRAM_HEALTH_FILE", str(path))
    heavy = {"telegram", "torch", "onnxruntime", "faiss", "bot.telegram.app"}
    assert heavy_imports(["telegram", "--health"], heavy) == set()
    written = datetime.fromisoformat(json.loads(path.read_text())["updated_at"])
    assert check_health(path, now=written + timedelta(seconds=89)).startswith("ok: ")
    with pytest.raises(HealthError, match=r"last written 91 s ago \(every 30 s expected\)"):
        check_health(path, now=written + timedelta(seconds=91))
    naive = '{"status": "ok", "updated_at": "2026-01-01T00:00", "interval_s": 30}'
    for broken in ("{half a file", "[]", naive):
        path.write_text(broken)
        with pytest.raises(HealthError, match="is not a qabot health file"):
            check_health(path)
    assert datetime.now(UTC) >= written


def test_health_without_a_health_file_set_is_one_line(capfd):
    code, out, err = run_cli(capfd, "telegram", "--health")
    assert code == 1 and out == ""
    assert err == "error: telegram.health_file is not set: there is no health file to check\n"


def test_an_unwritable_health_file_stops_the_bot_before_it_loads(capfd, monkeypatch, tmp_path):
    with FakeTelegramThread() as server:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE", server.api_base)
        monkeypatch.setenv("QABOT_TELEGRAM_HEALTH_FILE", str(tmp_path))  # a folder
        code, out, err = run_cli(capfd, "telegram")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write the health file {tmp_path} (")
    assert "Traceback" not in err and _secret_free(out + err)


# --- settings ---------------------------------------------------------------------------------


def test_operator_settings_are_read_and_checked(tmp_path, monkeypatch):
    config = tmp_path / "etc" / "qabot.yaml"
    config.parent.mkdir()
    config.write_text("telegram:\n  health_file: run/health.json\n  log_format: json\n")
    monkeypatch.setenv("QABOT_TELEGRAM_ADMINS", "1, 2")
    tg = load_settings(config).telegram
    assert tg.health_file == config.parent / "run" / "health.json"  # beside the config
    assert tg.admins == [1, 2] and tg.log_format == "json" and tg.health_interval == 30
    monkeypatch.delenv("QABOT_TELEGRAM_ADMINS")
    for line, name in [
        ("health_interval: true", "health_interval"),
        ("health_interval: 0", "health_interval"),
        ('health_file: " "', "health_file"),
        ("log_format: xml", "log_format"),
        ("admins: [me]", "admins.0"),
    ]:
        config.write_text(f"telegram:\n  {line}\n")
        with pytest.raises(ConfigError, match=f"^bad setting 'telegram.{name}'"):
            load_settings(config)


# --- deployment ---------------------------------------------------------------------------------


def _unit() -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(REPO / "deploy" / "qabot-telegram.service", encoding="utf-8")
    return {name: dict(parser[name]) for name in parser.sections()}


def test_the_systemd_unit_runs_the_bot_hardened():
    unit = _unit()
    service = unit["Service"]
    assert service["ExecStart"].split() == ["/opt/qabot/.venv/bin/qabot", "telegram"]
    assert service["User"] == "qabot" and service["EnvironmentFile"] == "/etc/qabot/env"
    assert service["Environment"].startswith("QABOT_CONFIG=")
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    hardening = {
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "StateDirectory": "qabot",
        "KillSignal": "SIGTERM",
    }
    assert {key: service.get(key) for key in hardening} == hardening
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    for key in ("RestartSec", "TimeoutStopSec", "MemoryMax", "ReadWritePaths", "WorkingDirectory"):
        assert service.get(key), key
    assert "/var/lib/qabot" in service["ReadWritePaths"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_env_example_holds_no_real_token():
    text = (REPO / "deploy" / "env.example").read_text()
    assert re.search(r"^TELEGRAM_BOT_TOKEN=", text, re.MULTILINE)
    assert not re.search(r"\d{6,}:[A-Za-z0-9_-]{30,}", text)
