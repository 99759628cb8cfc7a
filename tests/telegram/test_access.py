"""The allow-list end to end: one gate in front of every handler (PTB's `TypeHandler` in
group -1, ending a refused update with `ApplicationHandlerStop`). Real python-telegram-bot,
over HTTP, against the fake Bot API server, in front of the real engine.

What got past the gate is seen by a spy: a handler added in a group after the bot's own,
which PTB runs for every update that no earlier group stopped.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.telegram.access import REFUSAL
from bot.telegram.errors import ERROR_REPLY
from tests.telegram.fake_server import (
    GROUP,
    STRANGER,
    USER,
    FakeTelegram,
    private_chat,
)
from tests.telegram.harness import polling_bot
from tests.telegram.test_bot import (
    AMBASSADOR,
    EngineProxy,
    _command,
    _sticker,
    buttons,
    run,
)

ELSEWHERE = {"id": -100777, "type": "supergroup", "title": "Elsewhere"}  # not allowed
CHANNEL = {"id": -100888, "type": "channel", "title": "News"}


def spy(app: Application) -> list[Update]:
    """Every update that gets past the gate, as the bot's handlers see it."""
    seen: list[Update] = []

    async def record(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)

    app.add_handler(TypeHandler(Update, record), group=1)
    return seen


def replies_to(server: FakeTelegram, message: dict) -> list[dict]:
    chat_id, message_id = message["chat"]["id"], message["message_id"]
    return [
        m
        for m in server.sent(chat_id)
        if m.get("reply_to_message", {}).get("message_id") == message_id
    ]


def refusals_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused user")]


def test_allowlist_refuses_others_without_computing(engine):
    async def scenario():
        proxy = EngineProxy(engine)
        allowed = {"allowed_users": [USER["id"]], "allowed_chats": [GROUP["id"]]}
        async with polling_bot(proxy, **allowed) as (server, _app):
            refused = await server.reply_to(server.message(AMBASSADOR, user=STRANGER))
            assert refused["text"] == REFUSAL and "reply_markup" not in refused
            start = server.message("/start", user=STRANGER, entities=[_command("/start")])
            assert (await server.reply_to(start))["text"] == REFUSAL
            assert proxy.calls == []
            assert not [c for c in server.calls_of("sendChatAction")]  # no "typing" either

            # An allowed user, and anyone in an allowed group, are answered.
            mine = await server.reply_to(server.message(AMBASSADOR))
            group = await server.reply_to(
                server.mention(f"@qa_test_bot {AMBASSADOR}", user=STRANGER)
            )
            assert "Cheng Yonghua" in mine["text"] and "Cheng Yonghua" in group["text"]

            query_id = server.press(mine, buttons(mine)[0]["callback_data"], user=STRANGER)
            [call] = await server.wait_calls(
                "answerCallbackQuery", where=lambda p: p["callback_query_id"] == query_id
            )
            assert call.params["text"] == REFUSAL and call.params["show_alert"] is True
            assert proxy.calls == [AMBASSADOR, AMBASSADOR]

    run(scenario())


def test_a_stranger_reaches_no_handler_whatever_the_update(engine, caplog):
    """A question, commands, a sticker, an edit and a button press from someone not on the
    allow-list: each refused once, and none gets past the gate (nothing computed, nothing
    counted in /stats); the allowed user is answered as ever."""
    caplog.set_level(logging.INFO)

    async def scenario():
        proxy = EngineProxy(engine)
        settings = {"allowed_users": [USER["id"]], "admins": [USER["id"]]}
        async with polling_bot(proxy, **settings) as (server, app):
            passed = spy(app)
            mine = await server.reply_to(server.message(AMBASSADOR))
            assert "Cheng Yonghua" in mine["text"]

            question = server.message(AMBASSADOR, user=STRANGER)
            messages = [
                question,
                server.message(f"/ask {AMBASSADOR}", user=STRANGER, entities=[_command("/ask")]),
                server.message("/help", user=STRANGER, entities=[_command("/help")]),
                server.message("/frobnicate", user=STRANGER, entities=[_command("/frobnicate")]),
                server.message(user=STRANGER, sticker=_sticker()),
            ]
            for message in messages:
                refused = await server.reply_to(message)
                assert refused["text"] == REFUSAL and "reply_markup" not in refused
            server.edit(question, "Who is Koichi Nakano?")
            await server.wait_for(lambda: len(replies_to(server, question)) == 2)
            query_id = server.press(mine, buttons(mine)[0]["callback_data"], user=STRANGER)
            [press] = await server.wait_calls(
                "answerCallbackQuery", where=lambda p: p["callback_query_id"] == query_id
            )
            assert press.params["text"] == REFUSAL and press.params["show_alert"] is True

            # The allowed user's own press still shows the passage.
            server.press(mine, buttons(mine)[0]["callback_data"])
            assert (await server.reply_to(mine))["text"].startswith("[1] article.txt")
            stats = server.message("/stats", entities=[_command("/stats")])
            assert "Questions answered: 1\n" in (await server.reply_to(stats))["text"]

            assert proxy.calls == [AMBASSADOR]
            assert len(server.calls_of("sendChatAction")) >= 1  # "typing" for the user only
            assert all(c.params["chat_id"] == USER["id"] for c in server.calls_of("sendChatAction"))
            assert {u.effective_user.id for u in passed} == {USER["id"]}
            # One refusal per update: the five messages and the edit, then the press's alert.
            stranger_chat = private_chat(STRANGER)["id"]
            assert [m["text"] for m in server.sent(stranger_chat)] == [REFUSAL] * 6
            assert refusals_logged(caplog) == [
                f"refused user {STRANGER['id']} in chat {stranger_chat} (not in the allowlist)"
            ] * 6 + [f"refused user {STRANGER['id']} in chat {USER['id']} (not in the allowlist)"]

    run(scenario())


def test_what_no_handler_takes_stays_unanswered_and_unlogged(engine, caplog):
    """The gate refuses only what a handler would have taken: a stranger's group chatter, a
    command for another bot, a service message and a channel post (no user at all) get the
    silence they always got."""
    caplog.set_level(logging.INFO)

    async def scenario():
        proxy = EngineProxy(engine)
        async with polling_bot(proxy, allowed_users=[USER["id"]]) as (server, app):
            passed = spy(app)
            server.message(AMBASSADOR, user=STRANGER, chat=ELSEWHERE)
            other_bot = "/help@other_bot"
            server.message(other_bot, user=STRANGER, chat=ELSEWHERE, entities=[_command(other_bot)])
            server.message(user=STRANGER, chat=ELSEWHERE, new_chat_members=[STRANGER])
            server.push(
                {
                    "channel_post": {
                        "message_id": 1,
                        "date": 0,
                        "chat": CHANNEL,
                        "sender_chat": CHANNEL,
                        "text": AMBASSADOR,
                    }
                }
            )
            # After those, a mention in the same group: that one is refused.
            mention = server.message(
                f"@qa_test_bot {AMBASSADOR}",
                user=STRANGER,
                chat=ELSEWHERE,
                entities=[{"type": "mention", "offset": 0, "length": 12}],
            )
            assert (await server.reply_to(mention))["text"] == REFUSAL
            assert [m["text"] for m in server.sent(ELSEWHERE["id"])] == [REFUSAL]
            assert server.sent(CHANNEL["id"]) == []
            assert len(refusals_logged(caplog)) == 1
            assert proxy.calls == [] and passed == []

    run(scenario())


def test_a_refusal_that_fails_is_reported_and_still_stops_the_update(engine, caplog):
    """As when any handler fails: logged, the chat told; and the update goes no further."""

    async def scenario():
        proxy = EngineProxy(engine)
        async with polling_bot(proxy, allowed_users=[USER["id"]]) as (server, app):
            passed = spy(app)
            server.fail_next(
                "sendMessage",
                400,
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
            )
            apology = await server.reply_to(server.message(AMBASSADOR, user=STRANGER))
            assert apology["text"] == ERROR_REPLY
            assert "Chat not found" in caplog.text
            assert proxy.calls == [] and passed == []
            [failed] = server.calls_of("sendMessage", ok=False)
            assert failed.params["text"] == REFUSAL

    run(scenario())
