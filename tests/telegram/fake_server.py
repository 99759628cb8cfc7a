"""A fake Telegram Bot API server for end-to-end tests: aiohttp on 127.0.0.1, a free port.

It speaks the Bot API's HTTP protocol to a real python-telegram-bot: `/bot<token>/<method>`
with JSON or form bodies, a wrong token answered 401, getUpdates with offsets and long
polling, and the methods the bot uses (getMe, getUpdates, sendMessage, editMessageText,
answerCallbackQuery, sendChatAction, setMyCommands, deleteWebhook, setWebhook). It records
every call, and parses `parse_mode=HTML` as Telegram does: only Telegram's tags and
entities, properly nested, and at most 4096 characters after parsing. Tests push updates
(messages, edits, button presses) and wait for the bot's calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:TEST-token_Abcdefghijklmnopqrstuvwxyz"
BOT_USER = {
    "id": 9000,
    "is_bot": True,
    "first_name": "QA Bot",
    "username": "qa_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# A name with markup in it: the greeting must escape it.
USER = {"id": 111, "is_bot": False, "first_name": "Ann <&> Lee", "language_code": "en"}
OTHER_USER = {"id": 222, "is_bot": False, "first_name": "Bo"}
STRANGER = {"id": 333, "is_bot": False, "first_name": "Eve"}
GROUP = {"id": -100555, "type": "supergroup", "title": "Readers"}


def private_chat(user: dict) -> dict:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


# --- Telegram's HTML ------------------------------------------------------------------------


class HTMLError(ValueError):
    pass


_ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_START_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)")
_ATTRIBUTE = re.compile(r"\s+([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")


def _decode_entity(match: re.Match) -> str:
    name = match.group(1)
    if name in _NAMED:
        return _NAMED[name]
    code = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise HTMLError(f"Invalid character code {code}")
    return chr(code)


def parse_html(text: str) -> str:
    """The plain text of Telegram HTML, or HTMLError with Telegram's kind of message.

    Accepts Telegram's tags only (span only as class="tg-spoiler", a with href, tg-emoji with
    emoji-id), the entities &lt; &gt; &amp; &quot; and numeric ones; rejects unknown tags,
    unclosed or misnested tags, and a stray '<' or '&'.
    """
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            match = _ENTITY.match(text, i)
            if match is None:
                raise HTMLError(f"Unsupported HTML entity at byte offset {i}")
            out.append(_decode_entity(match))
            i = match.end()
        elif char == "<":
            if text.startswith("</", i):
                end = text.find(">", i)
                if end < 0:
                    raise HTMLError(f"Unclosed end tag at byte offset {i}")
                name = text[i + 2 : end].strip().lower()
                if not stack:
                    raise HTMLError(f'Unexpected end tag "{name}" at byte offset {i}')
                if stack[-1] != name:
                    raise HTMLError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
                stack.pop()
                i = end + 1
                continue
            match = _START_TAG.match(text, i)
            if match is None:
                raise HTMLError(f"Unsupported start tag at byte offset {i}")
            name = match.group(1).lower()
            if name not in _ALLOWED_TAGS:
                raise HTMLError(f'Unsupported start tag "{name}" at byte offset {i}')
            j = match.end()
            attributes: dict[str, str] = {}
            while True:
                attribute = _ATTRIBUTE.match(text, j)
                if attribute is None:
                    break
                value = attribute.group(2) or ""
                if value[:1] in "\"'":
                    value = value[1:-1]
                attributes[attribute.group(1).lower()] = _ENTITY.sub(_decode_entity, value)
                j = attribute.end()
            while j < len(text) and text[j].isspace():
                j += 1
            if j >= len(text) or text[j] != ">":
                raise HTMLError(f'Unclosed start tag "{name}" at byte offset {i}')
            if name == "span" and attributes.get("class") != "tg-spoiler":
                raise HTMLError('Tag "span" must have class "tg-spoiler"')
            if name == "a" and "href" not in attributes:
                raise HTMLError('Tag "a" must have attribute "href"')
            if name == "tg-emoji" and "emoji-id" not in attributes:
                raise HTMLError('Tag "tg-emoji" must have attribute "emoji-id"')
            stack.append(name)
            i = j + 1
        else:
            out.append(char)
            i += 1
    if stack:
        raise HTMLError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def telegram_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


# --- the server ----------------------------------------------------------------------------

# Form fields that carry JSON (PTB sends everything but strings JSON-encoded).
_JSON_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "commands",
    "scope",
    "allowed_updates",
    "show_alert",
    "cache_time",
    "max_connections",
    "drop_pending_updates",
    "message_thread_id",
    "entities",
    "disable_notification",
    "protect_content",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)


class FakeTelegram:
    def __init__(self, token: str = TOKEN):
        self.token = token
        self.calls: list[Call] = []
        self.rejected_tokens: list[str] = []
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict] = []
        self._next_update = 1
        self._next_message = 1
        self._messages: dict[tuple[int, int], dict] = {}  # what the bot sent, by (chat, id)
        self._html: dict[tuple[int, int], str] = {}  # the HTML it was sent as
        self._chats: dict[int, dict] = {}
        self._failures: dict[str, list[tuple[int, dict]]] = {}
        self._answered: set[str] = set()
        self._changed: asyncio.Condition | None = None
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle --

    async def start(self) -> FakeTelegram:
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        # No access log: it would print the token in request paths, and it is not the bot's.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what tests do --

    def push(self, body: dict) -> dict:
        update = {"update_id": self._next_update, **body}
        self._next_update += 1
        self._updates.append(update)
        self._notify()
        return update

    def message(
        self,
        text: str | None = None,
        *,
        user: dict = USER,
        chat: dict | None = None,
        entities: list[dict] | None = None,
        reply_to: dict | None = None,
        deliver: bool = True,
        **content: Any,
    ) -> dict:
        """A user's message arrives (queued for getUpdates unless `deliver` is false, for
        webhook tests that post it themselves); returns the message."""
        chat = chat or private_chat(user)
        self._chats[chat["id"]] = chat
        message: dict[str, Any] = {
            "message_id": self._new_message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **content,
        }
        if text is not None:
            message["text"] = text
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if deliver:
            self.push({"message": message})
        return message

    def mention(self, text: str, **kwargs: Any) -> dict:
        """A group message that @mentions the bot where its username appears in `text`."""
        handle = "@" + BOT_USER["username"]
        offset = text.index(handle)
        entity = {"type": "mention", "offset": offset, "length": len(handle)}
        return self.message(text, chat=GROUP, entities=[entity], **kwargs)

    def edit(self, message: dict, text: str) -> dict:
        edited = {**message, "text": text, "edit_date": int(time.time())}
        self.push({"edited_message": edited})
        return edited

    def press(self, bot_message: dict, data: str, user: dict = USER) -> str:
        """Press an inline button under one of the bot's messages; returns the query id."""
        query_id = f"q{self._next_update}"
        self.push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "message": bot_message,
                    "chat_instance": "ci-1",
                    "data": data,
                }
            }
        )
        return query_id

    def fail_next(self, method: str, status: int, body: dict) -> None:
        """Answer the next call of `method` with this error instead."""
        self._failures.setdefault(method, []).append((status, body))

    def flood_next(self, method: str = "sendMessage", retry_after: int = 1) -> None:
        self.fail_next(
            method,
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        )

    def calls_of(self, method: str, ok: bool | None = True) -> list[Call]:
        return [
            c for c in self.calls if c.method == method and (ok is None or (c.status == 200) == ok)
        ]

    def sent(self, chat_id: int) -> list[dict]:
        """Every message the bot sent to a chat, oldest first, as Telegram stored it."""
        return [m for (chat, _), m in sorted(self._messages.items()) if chat == chat_id]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 15) -> Any:
        """Wait until predicate() is truthy (re-checked on every call); return its value."""
        assert self._changed is not None
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                methods = [c.method for c in self.calls if c.method != "getUpdates"]
                raise AssertionError(f"timed out; calls so far: {methods}") from None
        return predicate()

    async def wait_calls(
        self,
        method: str,
        count: int = 1,
        where: Callable[[dict], bool] = lambda _p: True,
        timeout: float = 15,
    ) -> list[Call]:
        def found() -> list[Call] | None:
            hits = [c for c in self.calls_of(method) if where(c.params)]
            return hits if len(hits) >= count else None

        return await self.wait_for(found, timeout)

    def html_of(self, message: dict) -> str:
        """The HTML the bot sent for one of its messages (Telegram keeps only the text)."""
        return self._html[(message["chat"]["id"], message["message_id"])]

    async def reply_to(self, message: dict, timeout: float = 15) -> dict:
        """Wait for the bot's message threaded to `message` and return it."""
        chat_id = message["chat"]["id"]

        def find() -> dict | None:
            return next(
                (
                    m
                    for m in self.sent(chat_id)
                    if m.get("reply_to_message", {}).get("message_id") == message["message_id"]
                ),
                None,
            )

        return await self.wait_for(find, timeout)

    def thread(self, head: dict) -> list[dict]:
        """`head` and the messages that continue it (a long reply split in parts): those the
        bot sent to the chat after it without replying to anything."""
        out = [head]
        for m in self.sent(head["chat"]["id"]):
            if m["message_id"] <= head["message_id"]:
                continue
            if "reply_to_message" in m:
                break
            out.append(m)
        return out

    # -- the Bot API --

    def _notify(self) -> None:
        if self._changed is None:
            return

        async def notify() -> None:
            assert self._changed is not None
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def _new_message_id(self) -> int:
        self._next_message += 1
        return self._next_message

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json() if request.can_read_body else {}
            return dict(body or {})
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, str) and key in _JSON_FIELDS:
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            params[key] = value
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        match = re.fullmatch(r"bot([^/]+)/(\w+)", request.match_info["path"])
        if match is None:
            return _error(404, "Not Found")
        token, method = match.groups()
        params = await self._params(request)
        if token != self.token:
            self.rejected_tokens.append(token)
            self._record(Call(method, params, 401))
            return _error(401, "Unauthorized")
        failures = self._failures.get(method)
        if failures:
            status, body = failures.pop(0)
            self._record(Call(method, params, status))
            return web.json_response(body, status=status)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            self._record(Call(method, params, 404))
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except _APIError as exc:
            self._record(Call(method, params, exc.status))
            return _error(exc.status, exc.description)
        self._record(Call(method, params))
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    async def _api_getMe(self, params: dict) -> dict:
        return BOT_USER

    async def _api_getUpdates(self, params: dict) -> list[dict]:
        assert self._changed is not None and self._closing is not None
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        # An offset confirms every update before it: those are gone for good.
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self._updates and not self._closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.2))
        return self._updates[:limit]

    def _check_text(self, params: dict) -> str:
        text = str(params.get("text", ""))
        if params.get("parse_mode") == "HTML":
            try:
                text = parse_html(text)
            except HTMLError as exc:
                raise _APIError(400, f"Bad Request: can't parse entities: {exc}") from None
        if not text.strip():
            raise _APIError(400, "Bad Request: message text is empty")
        if telegram_length(text) > 4096:
            raise _APIError(400, "Bad Request: message is too long")
        return text

    def _chat(self, chat_id: Any) -> dict:
        chat_id = int(chat_id)
        return self._chats.get(chat_id) or {"id": chat_id, "type": "private", "first_name": "?"}

    async def _api_sendMessage(self, params: dict) -> dict:
        text = self._check_text(params)
        chat = self._chat(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._new_message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
            "text": text,
        }
        reply = params.get("reply_parameters") or {}
        if "reply_to_message_id" in params:
            reply = {"message_id": int(params["reply_to_message_id"])}
        if reply:
            message["reply_to_message"] = {
                "message_id": reply["message_id"],
                "date": int(time.time()),
                "chat": chat,
            }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._messages[(chat["id"], message["message_id"])] = message
        self._html[(chat["id"], message["message_id"])] = str(params["text"])
        return message

    async def _api_editMessageText(self, params: dict) -> dict:
        text = self._check_text(params)
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self._messages.get(key)
        if message is None:
            raise _APIError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if message["text"] == text and message.get("reply_markup") == markup:
            raise _APIError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        message.update(text=text, edit_date=int(time.time()))
        self._html[key] = str(params["text"])
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _api_answerCallbackQuery(self, params: dict) -> bool:
        query_id = str(params["callback_query_id"])
        if query_id in self._answered:  # Telegram takes one answer per query
            raise _APIError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._answered.add(query_id)
        return True

    async def _api_sendChatAction(self, params: dict) -> bool:
        return True

    async def _api_setMyCommands(self, params: dict) -> bool:
        for command in params.get("commands", []):
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise _APIError(400, "Bad Request: BOT_COMMAND_INVALID")
        return True

    async def _api_deleteWebhook(self, params: dict) -> bool:
        self.webhook = None
        return True

    async def _api_setWebhook(self, params: dict) -> bool:
        self.webhook = params
        return True

    async def _api_close(self, params: dict) -> bool:
        return True


class _APIError(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description}, status=status
    )


class FakeTelegramThread:
    """The fake server on its own event loop in a thread, for code that runs its own loop
    (the `qabot telegram` command, in this process or a child one)."""

    def __init__(self, token: str = TOKEN):
        self.server = FakeTelegram(token)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        self.call(self.server.start())
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def do(self, function: Callable[[], Any]) -> Any:
        """Run a plain function on the server's loop (pushing an update, say)."""

        async def wrapper() -> Any:
            return function()

        return self.call(wrapper())
