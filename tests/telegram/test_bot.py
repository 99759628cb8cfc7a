"""The Telegram bot end to end: real python-telegram-bot, over HTTP, against the fake Bot API
server in tests/telegram/fake_server.py, in front of the real engine (model and index of the
article).

Each test runs one scenario inside `asyncio.run` under a time limit, and waits for the bot's
calls with conditions, not sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from telegram.ext import Application

from bot.config import Settings
from bot.core.answering.engine import QAEngine
from bot.core.index.build import build_index
from bot.core.index.snapshot import load_index, read_manifest
from bot.core.settings import AnswerSettings, ChunkerSettings
from bot.service import QAService
from bot.telegram import app as telegram_app
from bot.telegram import state
from bot.telegram.app import build_application, webhook_options, webhook_secret
from bot.telegram.errors import ERROR_REPLY
from bot.telegram.handlers import STALE_BUTTON, TEXT_ONLY
from bot.telegram.redact import redacting
from tests.telegram.fake_server import (
    BOT_USER,
    GROUP,
    OTHER_USER,
    TOKEN,
    USER,
    FakeTelegram,
    parse_html,
    telegram_length,
)
from tests.telegram.harness import polling, polling_bot, settings_for

SCENARIO_TIMEOUT = 60
AMBASSADOR = "Who is China's ambassador to Japan?"
MAX_CALLBACK_BYTES = 64  # Telegram's limit for a button's callback_data


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, SCENARIO_TIMEOUT))


async def eventually(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    """For conditions the fake server does not see (log records, bot state)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


class EngineProxy:
    """The real engine, counted; it fails on the questions in `fail_on`, and on those in
    `hold_on` it waits until the test sets `release` (a question as slow as a test needs)."""

    def __init__(self, engine: QAEngine, hold_on=(), fail_on=()):
        self.engine = engine
        self.index = engine.index
        # what the service takes over when it loads a new build beside this one
        self.embedder, self.settings = engine.embedder, engine.settings
        self.selector, self.reader = engine.selector, engine.reader
        self.hold_on, self.fail_on = set(hold_on), set(fail_on)
        self.release = threading.Event()
        self.calls: list[str] = []
        self.threads: set[str] = set()

    def answer(self, question, history=(), top_k=None, document=None):
        self.calls.append(question)
        self.threads.add(threading.current_thread().name)
        if question in self.fail_on:
            raise RuntimeError("the engine broke down")
        if question in self.hold_on:
            assert self.release.wait(SCENARIO_TIMEOUT)
        return self.engine.answer(question, history, top_k, document)


def bot_warnings(caplog) -> list[logging.LogRecord]:
    """The bot's own warnings and errors (not the fake server's, which aiohttp logs when a
    client goes away mid-request at a stop)."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot")]


def buttons(message: dict) -> list[dict]:
    return [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def questions_kept(app: Application, chat_id: int) -> list[str]:
    """The questions of the turns the bot keeps for a chat, read from PTB's chat_data."""
    return [question for question, _ in turns_kept(app, chat_id)]


def turns_kept(app: Application, chat_id: int) -> list[tuple[str, str]]:
    """(question, what was searched) of each turn the bot keeps for a chat."""
    chat_state = app.chat_data.get(chat_id, {}).get(state.CHAT_STATE)
    turns = [turn for _, turn in chat_state.talk.turns] if chat_state else []
    return [(t.question, t.answer.query) for t in turns]


async def press_and_wait(
    server: FakeTelegram, message: dict, data: str, user: dict = USER
) -> dict[str, Any]:
    """Press a button; the parameters of the bot's answerCallbackQuery to that press."""
    query_id = server.press(message, data, user=user)
    [call] = await server.wait_calls(
        "answerCallbackQuery", where=lambda p: p["callback_query_id"] == query_id
    )
    return call.params


# --- commands ------------------------------------------------------------------------------


def test_start_help_sources_and_registered_commands(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            commands = server.calls_of("setMyCommands")[0].params["commands"]
            names = [c["command"] for c in commands]
            assert names == ["ask", "sources", "doc", "reset", "help", "start"]
            assert server.calls_of("deleteWebhook")  # polling makes sure no webhook is set

            start = server.message("/start", entities=[_command("/start")])
            reply = await server.reply_to(start)
            assert reply["text"].startswith("Hi Ann <&> Lee!")  # the name, escaped in HTML
            assert "Ann &lt;&amp;&gt; Lee" in server.html_of(reply)
            assert "article.txt" in reply["text"] and "32 passages" in reply["text"]
            assert "Try: How big is Japan's trade surplus with the US?" in reply["text"]

            help_ = server.message("/help", entities=[_command("/help")])
            text = (await server.reply_to(help_))["text"]
            assert "/reset" in text and "@qa_test_bot" in text and "1,000 characters" in text

            sources = server.message("/sources", entities=[_command("/sources")])
            text = (await server.reply_to(sources))["text"]
            assert "article.txt" in text and "sha256" in text and "/" not in text.split("•")[1]

            unknown = server.message("/frobnicate", entities=[_command("/frobnicate")])
            assert "don't know that command" in (await server.reply_to(unknown))["text"]

    run(scenario())


def _command(text: str) -> dict:
    return {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}


def test_sources_and_doc_over_several_documents(tmp_path, embedder):
    """/sources lists the documents by name; /doc keeps one chat's search in one of them
    (other chats are not affected); /doc alone searches all again; a wrong name is told."""
    from tests.conftest import ARTICLE, REPO

    garden = tmp_path / "garden.md"
    garden.write_text(
        "# Garden\n\n## Watering\n\nWater the tomatoes every morning before the sun is "
        "high, and never water the leaves.\n",
        encoding="utf-8",
    )
    pdf = REPO / "tests" / "data" / "formats" / "two-pages.pdf"
    build_index([ARTICLE, garden, pdf], tmp_path / "index", embedder, ChunkerSettings())
    index = load_index(tmp_path / "index", read_manifest(tmp_path / "index"))
    engine = QAEngine(index, embedder, AnswerSettings())

    async def ask(server: FakeTelegram, text: str, user: dict = USER) -> str:
        entities = [_command(text)] if text.startswith("/") else None
        return (await server.reply_to(server.message(text, entities=entities, user=user)))["text"]

    async def scenario():
        async with polling_bot(engine) as (server, _app):
            listed = await ask(server, "/sources")
            for line in ("article.txt (text", "garden.md (markdown", "two-pages.pdf (pdf, 2 pages"):
                assert line in listed, listed
            assert "/doc NAME" in listed
            assert "p. 2" in await ask(server, "What does the Calvin cycle fix?")

            assert "only garden.md" in await ask(server, "/doc garden.md")
            limited = await ask(server, "What does the Calvin cycle fix?")
            assert "two-pages.pdf" not in limited
            # another chat still searches everything
            assert "two-pages.pdf p. 2" in await ask(
                server, "What does the Calvin cycle fix?", user=OTHER_USER
            )
            wrong = await ask(server, "/doc handbook.pdf")
            assert "handbook.pdf" in wrong and "garden.md" in wrong and wrong.startswith("Sorry")
            assert "every document" in await ask(server, "/doc")
            assert "two-pages.pdf p. 2" in await ask(server, "What does the Calvin cycle fix?")

    run(scenario())


# --- answers, buttons, conversation ---------------------------------------------------------


def test_question_answered_with_citations_buttons_and_typing(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            question = server.message(AMBASSADOR)
            reply = await server.reply_to(question)
            html = server.html_of(reply)
            assert "Cheng Yonghua" in reply["text"] and "[1]" in reply["text"]
            assert "\n\n<b>Sources</b>\n<b>[1]</b> article.txt ¶" in html
            parse_html(html)  # the server accepted it; parse again to be explicit
            send = server.calls_of("sendMessage")[0]
            assert send.params["parse_mode"] == "HTML"
            assert send.params["reply_parameters"]["message_id"] == question["message_id"]
            assert send.params["link_preview_options"] == {"is_disabled": True}

            typing = server.calls_of("sendChatAction")
            assert typing and typing[0].params == {"chat_id": USER["id"], "action": "typing"}
            assert server.calls.index(typing[0]) < server.calls.index(send)

            [button] = buttons(reply)  # where it is, first
            assert re.fullmatch(r"\[1\] ¶\d+(-\d+)?, lines? \d+(-\d+)?", button["text"])
            assert 0 < len(button["callback_data"].encode()) <= MAX_CALLBACK_BYTES

            query_id = server.press(reply, button["callback_data"])
            await server.wait_calls(
                "answerCallbackQuery", where=lambda p: p["callback_query_id"] == query_id
            )
            passage = await server.reply_to(reply)
            assert passage["text"].startswith("[1] article.txt ¶39")
            assert "touted the countries’ “highly complimentary” economies." in passage["text"]
            assert "<blockquote>" in server.html_of(passage)
            # The press was answered without a text: nothing to pop up.
            answered = server.calls_of("answerCallbackQuery")[0].params
            assert "text" not in answered

    run(scenario())


def test_every_message_and_edit_is_sent_as_html_without_a_link_preview(engine):
    """No handler passes send options: PTB's `Defaults`, set once on the Application, put
    them on every sendMessage and editMessageText the Bot API receives."""

    async def scenario():
        async with polling_bot(engine) as (server, _app):
            question = server.message("Who is Koichi Nakano?")
            answer = await server.reply_to(question)
            server.edit(question, AMBASSADOR)  # answered again in place: an edit
            await server.wait_calls("editMessageText")
            server.press(answer, buttons(answer)[0]["callback_data"])
            passage = await server.reply_to(answer)
            await server.reply_to(server.message("/help", entities=[_command("/help")]))

            sends, edits = server.calls_of("sendMessage"), server.calls_of("editMessageText")
            assert len(sends) == 3 and len(edits) == 1
            for call in sends + edits:
                assert call.params["parse_mode"] == "HTML", call.params
                assert call.params["link_preview_options"] == {"is_disabled": True}
            for call in sends:  # each threaded to what it answers, even if that is deleted
                assert call.params["reply_parameters"]["allow_sending_without_reply"] is True
            # Telegram read the tags as HTML: they are in what was sent, not in what it shows.
            assert "<b>Sources</b>" in server.html_of(answer) and "<b>" not in answer["text"]
            assert (
                "<blockquote>" in server.html_of(passage) and "<blockquote>" not in passage["text"]
            )

    run(scenario())


def test_off_topic_question_abstains_without_buttons(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            reply = await server.reply_to(server.message("How do I bake sourdough bread?"))
            assert reply["text"].startswith("The document doesn't say.")
            assert "reply_markup" not in reply and "Sources" not in reply["text"]

    run(scenario())


def test_follow_up_uses_the_chat_history_and_reset_forgets_it(engine):
    async def scenario():
        async with polling_bot(engine) as (server, app):
            first = await server.reply_to(server.message("Who is Koichi Nakano?"))
            assert "Koichi Nakano" in first["text"]
            follow = await server.reply_to(server.message("Which university is he at?"))
            assert "Sophia University" in follow["text"]
            assert len(questions_kept(app, USER["id"])) == 2
            # Another chat has a conversation of its own.
            assert questions_kept(app, OTHER_USER["id"]) == []

            reset = server.message("/reset", entities=[_command("/reset")])
            assert "forgotten" in (await server.reply_to(reset))["text"]
            assert questions_kept(app, USER["id"]) == []

    run(scenario())


def test_stale_and_foreign_buttons_get_a_polite_answer(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            reply = await server.reply_to(server.message(AMBASSADOR))
            good = buttons(reply)[0]["callback_data"]
            tampered = good[:-1] + ("7" if good[-1] != "7" else "8")
            for data in ("p:unknownKey:1", "garbage", tampered, ""):
                assert (await press_and_wait(server, reply, data))["text"] == STALE_BUTTON
            # The same button pressed from another chat's copy of the message shows nothing.
            elsewhere = {**reply, "chat": {"id": OTHER_USER["id"], "type": "private"}}
            answered = await press_and_wait(server, elsewhere, good, user=OTHER_USER)
            assert answered["text"] == STALE_BUTTON
            assert len(server.calls_of("sendMessage")) == 1  # only the answer itself

    run(scenario())


def test_without_a_state_file_a_button_from_before_a_restart_is_stale(engine):
    async def scenario():
        async with FakeTelegram() as server:
            async with polling(server, engine):
                reply = await server.reply_to(server.message(AMBASSADOR))
            async with polling(server, engine):
                answered = await press_and_wait(server, reply, buttons(reply)[0]["callback_data"])
            assert answered["text"] == STALE_BUTTON
            assert len(server.calls_of("sendMessage")) == 1  # only the answer itself

    run(scenario())


def test_only_the_latest_answers_keep_working_buttons(engine, monkeypatch):
    monkeypatch.setattr(telegram_app, "ANSWERS_KEPT", 2)

    async def scenario():
        async with polling_bot(engine) as (server, _app):
            asked = [AMBASSADOR, "Who is Koichi Nakano?", AMBASSADOR]
            replies = [await server.reply_to(server.message(q)) for q in asked]
            oldest, newest = replies[0], replies[-1]
            answered = await press_and_wait(server, oldest, buttons(oldest)[0]["callback_data"])
            assert answered["text"] == STALE_BUTTON
            answered = await press_and_wait(server, newest, buttons(newest)[0]["callback_data"])
            assert "text" not in answered
            assert (await server.reply_to(newest))["text"].startswith("[1] article.txt ¶39")

    run(scenario())


def test_the_least_recently_active_chat_is_forgotten_first(engine):
    third = {"id": 444, "is_bot": False, "first_name": "Cy"}

    async def scenario():
        async with polling_bot(engine, chats_kept=2) as (server, app):
            for user in (USER, OTHER_USER, USER, third):
                await server.reply_to(server.message("Who is Koichi Nakano?", user=user))
            # The other user asked before the user's second question: forgotten first.
            assert set(app.chat_data) == {USER["id"], third["id"]}
            assert questions_kept(app, USER["id"]) == ["Who is Koichi Nakano?"] * 2
            follow = await server.reply_to(server.message("Which university is he at?"))
            assert "Sophia University" in follow["text"]

    run(scenario())


def test_edited_question_updates_the_answer_in_place(engine):
    async def scenario():
        async with polling_bot(engine) as (server, app):
            question = server.message("Who is Koichi Nakano?")
            reply = await server.reply_to(question)
            server.edit(question, AMBASSADOR)
            [edit] = await server.wait_calls("editMessageText")
            assert edit.params["message_id"] == reply["message_id"]
            assert "Cheng Yonghua" in reply["text"]  # the fake updated the stored message
            assert buttons(reply)
            assert questions_kept(app, USER["id"]) == [AMBASSADOR]
            # Edited again to the same words: answered again, still in place.
            server.edit(question, AMBASSADOR)
            await server.wait_calls("editMessageText", count=2)
            follow = await server.reply_to(server.message("Who did he give an interview to?"))
            assert "South China Morning Post" in follow["text"]
            assert len(server.calls_of("sendMessage")) == 2

    run(scenario())


# --- groups --------------------------------------------------------------------------------


def test_group_answers_only_mentions_replies_and_ask(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            chatter = server.message(AMBASSADOR, chat=GROUP)
            sticker = server.message(chat=GROUP, sticker=_sticker())
            mention = server.mention(f"@{BOT_USER['username']} {AMBASSADOR}")
            answer = await server.reply_to(mention)
            assert "Cheng Yonghua" in answer["text"]
            reply = server.message(
                "Who did he give an interview to?", chat=GROUP, user=OTHER_USER, reply_to=answer
            )
            assert "South China Morning Post" in (await server.reply_to(reply))["text"]
            ask = server.message(
                "/ask@qa_test_bot How big is Japan's trade surplus with the US?",
                chat=GROUP,
                entities=[{"type": "bot_command", "offset": 0, "length": 16}],
            )
            assert "$70 billion" in (await server.reply_to(ask))["text"]
            only_mention = server.mention("@qa_test_bot")
            assert "Ask me a question" in (await server.reply_to(only_mention))["text"]
            # By now the chatter and the sticker, which came first, have long been handled.
            sent = server.sent(GROUP["id"])
            targets = {m["reply_to_message"]["message_id"] for m in sent}
            assert chatter["message_id"] not in targets and sticker["message_id"] not in targets
            assert len(sent) == 4

    run(scenario())


# --- odd input -----------------------------------------------------------------------------


def _sticker() -> dict:
    return {
        "file_id": "s1",
        "file_unique_id": "u1",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }


def test_non_text_empty_and_overlong_messages_get_polite_replies(engine):
    async def scenario():
        proxy = EngineProxy(engine)
        async with polling_bot(proxy) as (server, _app):
            odd = [
                server.message(sticker=_sticker()),
                server.message(
                    photo=[{"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9}]
                ),
                server.message(voice={"file_id": "v", "file_unique_id": "v", "duration": 2}),
                server.message(
                    document={"file_id": "d", "file_unique_id": "d", "file_name": "a.pdf"},
                    caption="read this",
                ),
            ]
            for message in odd:
                assert (await server.reply_to(message))["text"] == TEXT_ONLY
            blank = await server.reply_to(server.message("   \n "))
            assert blank["text"].startswith("Ask me a question about the document")
            usage = server.message("/ask", entities=[_command("/ask")])
            assert (await server.reply_to(usage))["text"].startswith("Usage: /ask QUESTION")
            long = await server.reply_to(server.message("why " * 300))
            assert "1,199 characters long" in long["text"] and "up to 1,000" in long["text"]
            assert proxy.calls == []  # none of it reached the engine

    run(scenario())


def test_reply_longer_than_a_message_is_split(tmp_path, embedder):
    # SHA-512 sums are words the tokenizer reads as one piece each, so a passage of 200
    # word pieces can be 5,000 characters: the answer and the passage both need two messages.
    sums = " ".join(hashlib.sha512(str(i).encode()).hexdigest() for i in range(40))
    document = tmp_path / "release.md"
    document.write_text(
        "# Release 4.2\n\nRelease 4.2 of the harbour tide tables was published in March and "
        f"covers every port on the east coast.\n\nThe SHA-512 checksums of the release files "
        f"are {sums}.\n\nThe ferry to Nettle Island leaves the harbour at noon.\n",
        encoding="utf-8",
    )
    build_index([document], tmp_path / "index", embedder, ChunkerSettings())
    index = load_index(tmp_path / "index", read_manifest(tmp_path / "index"))
    long_engine = QAEngine(index, embedder, AnswerSettings())

    async def scenario():
        async with polling_bot(long_engine) as (server, _app):
            question = server.message("What are the SHA-512 checksums of the release files?")
            head = await server.reply_to(question)
            parts = await server.wait_for(lambda: _complete(server.thread(head)))
            assert len(parts) == 2
            for part in parts:
                html = server.html_of(part)
                assert telegram_length(parse_html(html)) <= 4096
            assert "reply_markup" not in parts[0] and buttons(parts[-1])
            text = " ".join(p["text"] for p in parts)
            assert all(s in text for s in sums.split()) and "Sources" in parts[-1]["text"]

            server.press(parts[-1], buttons(parts[-1])[0]["callback_data"])
            shown = await server.reply_to(parts[-1])
            pieces = await server.wait_for(lambda: _at_least(server.thread(shown), 2))
            assert all(server.html_of(p).count("<blockquote>") == 1 for p in pieces)
            assert all(s in " ".join(p["text"] for p in pieces) for s in sums.split())

            # In a group too only the first part is threaded (PTB would thread every one).
            mention = server.mention(
                "@qa_test_bot What are the SHA-512 checksums of the release files?"
            )
            head = await server.reply_to(mention)
            parts = await server.wait_for(lambda: _complete(server.thread(head)))
            assert len(parts) == 2

    run(scenario())


def _complete(parts: list[dict]) -> list[dict] | None:
    return parts if buttons(parts[-1]) else None


def _at_least(parts: list[dict], n: int) -> list[dict] | None:
    return parts if len(parts) >= n else None


# --- faults --------------------------------------------------------------------------------


def test_flood_control_429_is_waited_out(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            server.flood_next("sendMessage", retry_after=1)
            reply = await server.reply_to(server.message(AMBASSADOR))
            assert "Cheng Yonghua" in reply["text"]
            first, second = server.calls_of("sendMessage", ok=None)
            assert (first.status, second.status) == (429, 200)
            assert second.at - first.at >= 1.0

    run(scenario())


def test_network_error_on_send_is_retried(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            server.fail_next(
                "sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            )
            reply = await server.reply_to(server.message(AMBASSADOR))
            assert "Cheng Yonghua" in reply["text"]
            assert [c.status for c in server.calls_of("sendMessage", ok=None)] == [502, 200]

    run(scenario())


def test_blocked_user_is_logged_not_fatal(engine, caplog):
    caplog.set_level(logging.INFO)

    async def scenario():
        async with polling_bot(engine) as (server, _app):
            server.fail_next(
                "sendMessage",
                403,
                {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                },
            )
            server.message(AMBASSADOR)
            await server.wait_for(lambda: server.calls_of("sendMessage", ok=False))
            await eventually(lambda: "blocked by the user" in caplog.text)
            # It did not try to apologise to someone who blocked it, and it goes on.
            reply = await server.reply_to(server.message(AMBASSADOR, user=OTHER_USER))
            assert "Cheng Yonghua" in reply["text"]
            assert len(server.calls_of("sendMessage", ok=None)) == 2

    run(scenario())


def test_a_failing_update_is_reported_and_the_bot_goes_on(engine, caplog):
    async def scenario():
        proxy = EngineProxy(engine, fail_on={"Make it explode"})
        async with polling_bot(proxy) as (server, _app):
            reply = await server.reply_to(server.message("Make it explode"))
            assert reply["text"] == ERROR_REPLY
            assert "the engine broke down" in caplog.text  # logged, with its traceback
            again = await server.reply_to(server.message(AMBASSADOR))
            assert "Cheng Yonghua" in again["text"]

    run(scenario())


def test_a_failure_after_a_button_press_is_told_in_the_chat(engine):
    async def scenario():
        async with polling_bot(engine) as (server, _app):
            reply = await server.reply_to(server.message(AMBASSADOR))
            server.fail_next(
                "sendMessage",
                400,
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
            )
            query_id = server.press(reply, buttons(reply)[0]["callback_data"])
            apology = await server.reply_to(reply)  # the passage failed; the apology did not
            assert apology["text"] == ERROR_REPLY
            answers = [
                c
                for c in server.calls_of("answerCallbackQuery", ok=None)
                if c.params["callback_query_id"] == query_id
            ]
            # Answered once with no text; the second answer (the error) was refused.
            assert [c.status for c in answers] == [200, 400]

    run(scenario())


def test_slow_question_does_not_stall_other_chats(engine):
    async def scenario():
        slow = "What did Trump tweet about Japan in April?"
        proxy = EngineProxy(engine, hold_on={slow})
        async with polling_bot(proxy) as (server, _app):
            first = server.message(slow)
            second = server.message("Which university does Koichi Nakano teach at?")
            other = server.message(AMBASSADOR, user=OTHER_USER)
            # Another chat is answered while the slow question is still being worked on ...
            quick = await server.reply_to(other)
            await eventually(lambda: slow in proxy.calls)
            assert not server.sent(USER["id"])
            # ... and "typing" goes on being shown meanwhile.
            assert any(c.params["chat_id"] == USER["id"] for c in server.calls_of("sendChatAction"))
            proxy.release.set()
            # The same chat's questions are answered in the order they were asked.
            slow_reply = await server.reply_to(first)
            next_reply = await server.reply_to(second)
            assert quick["message_id"] < slow_reply["message_id"] < next_reply["message_id"]
            assert "hit us hard on trade" in slow_reply["text"]
            # The engine ran in the bot's worker threads, not on the event loop.
            assert proxy.threads and all(n.startswith("qabot-answer") for n in proxy.threads)

    run(scenario())


# --- secrets -------------------------------------------------------------------------------


def test_token_never_appears_in_logs_or_output(engine, caplog, capfd):
    caplog.set_level(logging.DEBUG)

    async def scenario():
        proxy = EngineProxy(engine, fail_on={"Make it explode"})
        async with polling_bot(proxy) as (server, _app):
            # httpx at DEBUG logs every request URL, token included: redaction must catch it.
            logging.getLogger("httpx").setLevel(logging.DEBUG)
            server.message("/start", entities=[_command("/start")])
            reply = await server.reply_to(server.message(AMBASSADOR))
            server.press(reply, buttons(reply)[0]["callback_data"])
            await server.reply_to(reply)
            await server.reply_to(server.message("Make it explode"))
            logging.getLogger("bot.telegram").error("a message quoting the token: %s", TOKEN)

    run(scenario())
    out, err = capfd.readouterr()
    records = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "[REDACTED]" in caplog.text  # httpx did log URLs, redacted
    for haystack in (caplog.text, records, out, err):
        assert TOKEN not in haystack
        assert TOKEN.split(":")[1] not in haystack


# --- webhook -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_mode_with_secret_token(engine):
    async def scenario():
        async with FakeTelegram() as server:
            port = free_port()
            settings = settings_for(
                server,
                mode="webhook",
                url="https://bot.example.org/hooks/qa",
                listen="127.0.0.1",
                port=port,
                secret_token="s3cret-Token_1",
            )
            tg = settings.telegram
            with redacting([TOKEN, "s3cret-Token_1"]):
                app = build_application(QAService(engine), settings)
                async with app:
                    await app.post_init(app)
                    await app.updater.start_webhook(**webhook_options(tg, webhook_secret(tg)))
                    await app.start()
                    try:
                        await _webhook_conversation(server, port)
                    finally:
                        await app.updater.stop()
                        await app.stop()
                        await app.post_shutdown(app)

    run(scenario())


async def _webhook_conversation(server: FakeTelegram, port: int) -> None:
    assert server.webhook is not None
    assert server.webhook["url"] == "https://bot.example.org/hooks/qa"
    assert server.webhook["secret_token"] == "s3cret-Token_1"
    assert server.webhook["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert not server.calls_of("getUpdates")

    message = server.message(AMBASSADOR, deliver=False)
    update = {"update_id": 1, "message": message}
    url = f"http://127.0.0.1:{port}/hooks/qa"
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(url, json=update, headers=headers) as refused:
                assert refused.status == 403
        header = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
        async with http.post(url, json=update, headers=header) as accepted:
            assert accepted.status == 200
    reply = await server.reply_to(message)
    assert "Cheng Yonghua" in reply["text"]
    assert len(server.calls_of("sendMessage")) == 1  # the refused posts did nothing


def test_webhook_secret_is_random_per_run_when_not_configured():
    tg = Settings.model_validate({"telegram": {"mode": "webhook", "url": "https://x.org/h"}})
    first, second = webhook_secret(tg.telegram), webhook_secret(tg.telegram)
    assert first != second and re.fullmatch(r"[A-Za-z0-9_-]{32,256}", first)
    assert webhook_options(tg.telegram, first)["url_path"] == "/h"


def test_fake_server_answers_like_the_bot_api():
    """The fake itself: JSON bodies, a wrong token, bad HTML and over-long text refused."""

    async def scenario():
        async with FakeTelegram() as server, aiohttp.ClientSession() as http:

            async def call(method: str, token: str = TOKEN, **params: Any) -> tuple[int, dict]:
                url = f"{server.api_base}{token}/{method}"
                async with http.post(url, json=params) as response:
                    return response.status, await response.json()

            assert await call("getMe", token="1:wrong") == (
                401,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
            )
            status, body = await call("sendMessage", chat_id=5, text="a <b>b", parse_mode="HTML")
            assert status == 400
            assert body["description"].startswith("Bad Request: can't parse entities:")
            status, body = await call("sendMessage", chat_id=5, text="x" * 4097)
            assert (status, body["description"]) == (400, "Bad Request: message is too long")
            status, body = await call(
                "sendMessage", chat_id=5, text="&lt;ok&gt;", parse_mode="HTML"
            )
            assert status == 200 and body["result"]["text"] == "<ok>"
            assert (await call("noSuchMethod"))[0] == 404
            status, body = await call("getUpdates", offset=0, timeout=0)
            assert (status, body["result"]) == (200, [])
            assert [c.method for c in server.calls] == [
                "getMe",
                "sendMessage",
                "sendMessage",
                "sendMessage",
                "noSuchMethod",
                "getUpdates",
            ]

    run(scenario())


def test_many_chats_at_once_each_question_answered_exactly_once(engine):
    from tests.telegram.load import run_load

    report = asyncio.run(asyncio.wait_for(run_load(engine, chats=8, per_chat=3), SCENARIO_TIMEOUT))
    assert report.sent == report.replied == 24
    assert report.lost == report.duplicated == report.misdelivered == 0


@pytest.mark.parametrize("rate", [4, 0])
def test_replies_are_paced_at_the_configured_rate(engine, rate):
    """Telegram answers a bot that sends faster than its limit with 429s: the bot paces
    itself at `max_messages_per_second` (0: not at all, for a server without the limit)."""
    from tests.telegram.load import run_load

    report = asyncio.run(
        asyncio.wait_for(run_load(engine, chats=12, per_chat=1, max_rate=rate), SCENARIO_TIMEOUT)
    )
    assert report.replied == 12 and report.lost == report.duplicated == 0
    if rate:
        # a leaky bucket of `rate` messages draining at `rate` a second: 12 take >= 2 s
        assert report.seconds >= (12 - rate) / rate, report


def test_with_a_reader_the_span_is_bold_and_a_no_answer_offers_the_closest(engine, tiny_reader):
    """A reader's span in bold inside the quoted sentence; after "doesn't say", one button
    for the closest passage, shown as not being an answer. (A tiny reader at thresholds that
    make it always answer, then never.)"""
    from bot.core.answering.engine import QAEngine
    from bot.core.answering.reader import Reader
    from bot.core.settings import AnswerSettings

    def reading(threshold: float) -> QAEngine:
        settings = AnswerSettings(reader_threshold=threshold)
        return QAEngine(engine.index, engine.embedder, settings, reader=Reader(tiny_reader))

    async def answering():
        async with polling_bot(reading(0.0)) as (server, _app):
            reply = await server.reply_to(server.message(AMBASSADOR))
            html = server.html_of(reply)
            body = html.split("\n\n<b>Sources</b>")[0]
            bold = re.findall(r"<b>([^<\[]+)</b>", body)  # the span, not the [n] markers
            assert len(bold) <= 1 and all(b in reply["text"] for b in bold), html
            assert "[1]" in reply["text"] and buttons(reply)[0]["text"].startswith("[1] ¶")

    async def abstaining():
        async with polling_bot(reading(1.0)) as (server, _app):
            reply = await server.reply_to(server.message("How do I bake sourdough bread?"))
            assert reply["text"].startswith("The document doesn't say.")
            assert "Sources" not in reply["text"] and "closest passage is below" in reply["text"]
            [button] = buttons(reply)
            assert button["text"].startswith("Closest: ¶")
            server.press(reply, button["callback_data"])
            passage = await server.reply_to(reply)
            assert passage["text"].startswith("Closest passage, article.txt ¶")
            assert "(it does not answer the question)" in passage["text"]

    run(answering())
    run(abstaining())
