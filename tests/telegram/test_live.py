"""A live index: the running bot answers from a build another process swapped in, without a
restart and without failing a question being answered; SIGHUP looks at once; a damaged new
build is warned about once while the old one answers. Real bot, fake Bot API, real engine."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from bot.core.answering.engine import QAEngine
from bot.core.index.build import build_index
from bot.core.index.snapshot import VECTORS_FILE, load_index, read_manifest
from bot.core.settings import AnswerSettings, ChunkerSettings
from bot.telegram.format import OLD_PASSAGE_NOTE
from tests.telegram.fake_server import OTHER_USER
from tests.telegram.harness import polling_bot
from tests.telegram.test_bot import (
    AMBASSADOR,
    SCENARIO_TIMEOUT,
    EngineProxy,
    bot_warnings,
    buttons,
    eventually,
    press_and_wait,
    run,
)

NAKANO = "Who is Koichi Nakano?"
TOMATOES = "When should the tomatoes be watered?"
GARDEN = (
    "# Garden\n\n## Watering\n\nWater the tomatoes every morning before the sun is high, "
    "and never water the leaves.\n"
)


@pytest.fixture
def live(tmp_path, article_index_dir, embedder) -> tuple[Path, Path, QAEngine]:
    """A copy of the article's index, the engine over it, and a garden note to build from."""
    index_dir = tmp_path / "index"
    shutil.copytree(article_index_dir, index_dir)
    garden = tmp_path / "garden.md"
    garden.write_text(GARDEN, encoding="utf-8")
    engine = QAEngine(load_index(index_dir, read_manifest(index_dir)), embedder, AnswerSettings())
    engine.warm_up()
    return index_dir, garden, engine


def _reloads(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "index reloaded" in r.getMessage()]


def test_a_rebuild_by_another_process_answers_the_next_question(live, caplog):
    """`qabot index rebuild` in another process: the next question is answered from the new
    build; a question held in the engine during the swap finishes on the old one; an old
    button says the index has changed; /sources shows the new build."""
    caplog.set_level(logging.INFO)
    index_dir, garden, engine = live
    held = "What did Trump tweet about Japan in April?"
    proxy = EngineProxy(engine, hold_on={held})

    async def scenario():
        async with polling_bot(proxy) as (server, _app):
            before = await server.reply_to(server.message(NAKANO, user=OTHER_USER))
            in_flight = server.message(held)
            await eventually(lambda: held in proxy.calls)

            rebuild = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "bot", "--index-dir", str(index_dir)],
                *["index", "rebuild", "--source", str(garden)],
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await rebuild.communicate()
            assert rebuild.returncode == 0, err.decode()
            build = read_manifest(index_dir)
            assert not (index_dir / f"data-{engine.index.manifest.build_id}").exists()

            fresh = await server.reply_to(server.message(TOMATOES, user=OTHER_USER), timeout=30)
            assert "every morning" in fresh["text"] and "garden.md" in fresh["text"]
            [reloaded] = _reloads(caplog)
            assert reloaded.startswith(
                f"index reloaded: build {build.build_id} (1 passages, 1 documents)"
            )

            proxy.release.set()  # the held question ends on the build it started with
            old = await server.reply_to(in_flight, timeout=30)
            assert "hit us hard on trade" in old["text"]

            pressed = await press_and_wait(
                server, before, buttons(before)[0]["callback_data"], user=OTHER_USER
            )
            assert "text" not in pressed
            passage = await server.reply_to(before)
            assert passage["text"].startswith("[1] article.txt ¶11")
            assert OLD_PASSAGE_NOTE in passage["text"]

            sources = server.message("/sources", entities=[_command("/sources")])
            listed = (await server.reply_to(sources))["text"]
            assert "garden.md" in listed and "article.txt" not in listed
            assert len(_reloads(caplog)) == 1

    asyncio.run(asyncio.wait_for(scenario(), SCENARIO_TIMEOUT * 2))


def test_sighup_takes_up_a_new_build_at_once(live, embedder, caplog):
    caplog.set_level(logging.INFO)
    index_dir, garden, engine = live

    async def scenario():
        async with polling_bot(engine) as (server, _app):
            first = await server.reply_to(server.message(AMBASSADOR))
            assert "Cheng Yonghua" in first["text"]
            await asyncio.to_thread(build_index, [garden], index_dir, embedder, ChunkerSettings())
            os.kill(os.getpid(), signal.SIGHUP)
            # Nothing was asked: the signal alone made the bot load the new build.
            await eventually(lambda: _reloads(caplog))
            start = server.message("/start", entities=[_command("/start")])
            greeting = (await server.reply_to(start))["text"]
            assert "garden.md" in greeting and "article.txt" not in greeting
            # An old button whose passage the new build does not hold: shown, with the note.
            server.press(first, buttons(first)[0]["callback_data"])
            passage = await server.reply_to(first)
            assert "Cheng Yonghua" in passage["text"] and OLD_PASSAGE_NOTE in passage["text"]

    run(scenario())
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # the handler went with the bot


def test_a_damaged_new_build_is_warned_about_once_and_the_old_one_answers(live, embedder, caplog):
    caplog.set_level(logging.INFO)
    index_dir, garden, engine = live
    manifest = build_index([garden], index_dir, embedder, ChunkerSettings())
    vectors = index_dir / manifest.data_dir / VECTORS_FILE
    vectors.write_bytes(vectors.read_bytes()[:100])  # cut short

    async def scenario():
        async with polling_bot(engine) as (server, _app):
            for _ in range(2):
                reply = await server.reply_to(server.message(AMBASSADOR))
                assert "Cheng Yonghua" in reply["text"]
                await asyncio.sleep(1.1)  # past the once-a-second limit: it looks again
            tomatoes = await server.reply_to(server.message(TOMATOES, user=OTHER_USER))
            assert tomatoes["text"].startswith("The document doesn't say.")

    run(scenario())
    warnings = [r.getMessage() for r in bot_warnings(caplog)]
    assert len(warnings) == 1, warnings
    assert f"cannot load build {manifest.build_id}" in warnings[0]
    assert f"still answering from build {engine.index.manifest.build_id}" in warnings[0]
    assert not _reloads(caplog)


def _command(text: str) -> dict:
    return {"type": "bot_command", "offset": 0, "length": len(text)}
