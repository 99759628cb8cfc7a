"""Telegram under load: many chats asking at once, against the fake Bot API server, in front
of the real engine. Every question must get exactly one reply, in its own chat, threaded to
it; the run reports throughput and latency.

    .venv/bin/python -m tests.telegram.load --chats 50 --questions 10 [--max-rate N] [--json FILE]

The bot paces its replies at `telegram.max_messages_per_second` (30, Telegram's limit for a
bot), which caps this run at about 30 a second; `--max-rate 0` turns pacing off to measure
what the bot itself can answer.

All questions are queued at once, so a question's latency (queued -> reply sent) includes
its wait behind the chat's earlier questions (a chat's questions are answered in order) and
behind the other chats (answers run in a small thread pool on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.telegram.harness import polling_bot

QUESTIONS = (
    "Who is China's ambassador to Japan?",
    "How big is Japan's trade surplus with the US?",
    "Which university does Koichi Nakano teach at?",
    "When did relations start to warm?",
    "Which islands are disputed?",
    "What did Trump claim China was meddling in?",
    "Where does Richard McGregor work?",
    "What is the capital of France?",
    "Which metals were hit by the tariffs?",
    "Who is honoured at the Yasukuni Shrine?",
)


@dataclass
class LoadReport:
    chats: int
    questions_per_chat: int
    sent: int
    replied: int
    lost: int  # questions without a reply
    duplicated: int  # questions with more than one reply
    misdelivered: int  # replies in another chat than the question's
    seconds: float
    throughput_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float


async def run_load(
    engine: Any, chats: int = 50, per_chat: int = 10, max_rate: float | None = None
) -> LoadReport:
    pacing = {} if max_rate is None else {"max_messages_per_second": max_rate}
    async with polling_bot(engine, **pacing) as (server, _app):
        users = [{"id": 10_000 + i, "is_bot": False, "first_name": f"U{i}"} for i in range(chats)]
        started = time.monotonic()
        asked = []
        for round_ in range(per_chat):
            for user in users:
                asked.append(
                    server.message(QUESTIONS[(round_ + user["id"]) % len(QUESTIONS)], user=user)
                )
        queued_at = time.monotonic()

        def replies() -> list[Any]:
            return [
                c
                for c in server.calls_of("sendMessage")
                if (c.params.get("reply_parameters") or {}).get("message_id")
            ]

        await server.wait_for(lambda: len(replies()) >= len(asked), timeout=60 + 2 * len(asked))
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        elapsed = time.monotonic() - started

    reply_calls = replies()
    counts = Counter(c.params["reply_parameters"]["message_id"] for c in reply_calls)
    chat_of = {m["message_id"]: m["chat"]["id"] for m in asked}
    misdelivered = sum(
        1
        for c in reply_calls
        if int(c.params["chat_id"]) != chat_of.get(c.params["reply_parameters"]["message_id"])
    )
    first_reply = {}
    for c in reply_calls:
        first_reply.setdefault(c.params["reply_parameters"]["message_id"], c.at)
    latencies = sorted((first_reply[m["message_id"]] - queued_at) * 1000 for m in asked)
    return LoadReport(
        chats=chats,
        questions_per_chat=per_chat,
        sent=len(asked),
        replied=sum(1 for m in asked if counts[m["message_id"]] >= 1),
        lost=sum(1 for m in asked if counts[m["message_id"]] == 0),
        duplicated=sum(1 for m in asked if counts[m["message_id"]] > 1),
        misdelivered=misdelivered,
        seconds=round(elapsed, 2),
        throughput_per_s=round(len(asked) / elapsed, 1),
        latency_p50_ms=round(statistics.median(latencies), 1),
        latency_p95_ms=round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1),
    )


def bot_process(index_dir: str, questions: int = 20) -> dict[str, Any]:
    """A real `qabot telegram` process polling the fake server: its memory after answering
    `questions` questions (one model, the index, python-telegram-bot, ONNX Runtime)."""
    import os
    import signal
    import subprocess

    from bot.tools.footprint import process_memory_mb
    from tests.telegram.fake_server import TOKEN, FakeTelegramThread

    thread = FakeTelegramThread()
    with thread as server:
        env = {**os.environ, "QABOT_INDEX_DIR": index_dir, "TELEGRAM_BOT_TOKEN": TOKEN}
        env["TELEGRAM_API_BASE"] = server.api_base
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "telegram"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            thread.call(server.wait_calls("setMyCommands", timeout=120), timeout=130)
            for i in range(questions):
                message = thread.do(lambda i=i: server.message(QUESTIONS[i % len(QUESTIONS)]))
                thread.call(server.reply_to(message, timeout=30), timeout=40)
            memory = process_memory_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    return {"answered": questions, **memory}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--max-rate", type=float, help="replies a second; 0: unpaced")
    parser.add_argument("--index-dir", help="an index to answer from (default: a fresh one)")
    parser.add_argument(
        "--process-only", action="store_true", help="only a real bot process's memory"
    )
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    # The fake server logs the bot's long poll cut off at shutdown: not a finding.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)

    from bot.config import load_settings
    from bot.service import QAService

    with tempfile.TemporaryDirectory() as scratch:
        index_dir = args.index_dir or scratch
        if args.process_only:
            QAService.open(load_settings(index_dir=index_dir))  # built before the clock starts
            data, ok = bot_process(index_dir), True
        else:
            service = QAService.open(load_settings(index_dir=index_dir))
            report = asyncio.run(
                run_load(service.engine, args.chats, args.questions, args.max_rate)
            )
            data, ok = asdict(report), report.lost == report.duplicated == report.misdelivered == 0
    print(json.dumps(data, indent=2))
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
