"""What the Telegram bot says, as Telegram HTML: pure functions, no network, no telegram import.

Every piece of document or user text goes through `escape`, so a reply never fails with
"can't parse entities". `split_html` cuts a long reply into messages Telegram accepts
(4096 characters after entity parsing), at paragraph boundaries when it can, and never
inside a tag or an entity: tags still open at a cut are closed there and reopened in the
next message.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.types import normalize_space

if TYPE_CHECKING:
    from bot.core.types import Answer, Citation, Manifest

MAX_MESSAGE_CHARS = 4096  # Telegram's limit, counted after entity parsing
PREVIEW_CHARS = 80

_MARKER = re.compile(r"\[(\d+)\]")


def escape(text: str) -> str:
    """Text for Telegram HTML: <, > and & become entities (quotes only matter in attributes)."""
    return html.escape(text, quote=False)


# --- replies -------------------------------------------------------------------------------


def preview(text: str, width: int = PREVIEW_CHARS) -> str:
    flat = normalize_space(text)
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def answer_html(answer: Answer) -> str:
    """The answer with its [n] markers, then a compact Sources section (one line a passage)."""
    if answer.abstained:
        closest = (
            " The closest passage is below, though it does not answer." if answer.closest else ""
        )
        return (
            f"{escape(answer.text)}\n\n"
            f"<i>Nothing in it answers that question.{closest} "
            "Try other words, or /help for examples.</i>"
        )
    text = answer.text
    if answer.span is not None:  # the reader's span, in bold inside the quoted sentence
        s, e = answer.span.marked
        body = f"{escape(text[:s])}<b>{escape(text[s:e])}</b>{escape(text[e:])}"
    else:
        body = escape(text)
    body = _MARKER.sub(r"<b>\g<0></b>", body)
    lines = [body, "", "<b>Sources</b>"]
    lines += [
        f"<b>[{c.n}]</b> {escape(c.label)}: {escape(preview(c.text))}" for c in answer.citations
    ]
    return "\n".join(lines)


# A button's text shows about this much on a phone; the locator is cut to fit.
BUTTON_WHERE = 32
# Under a passage the index no longer holds as quoted (rebuilt since the answer).
OLD_PASSAGE_NOTE = (
    "The documents have been indexed again since this answer, and this passage is no longer "
    "in them as it was: here it is as it was then. Ask again for an answer from the new index."
)


def passage_html(c: Citation, outdated: bool = False) -> str:
    """One cited passage in full, its paragraphs kept, hard-wrapped lines joined; with a
    note if the index has changed since and no longer holds it as quoted."""
    paragraphs = [normalize_space(p) for p in re.split(r"\n\s*\n", c.text)]
    body = "\n\n".join(escape(p) for p in paragraphs if p)
    note = f"\n<i>{escape(OLD_PASSAGE_NOTE)}</i>" if outdated else ""
    if c.n == 0:  # offered after "doesn't say": what came closest, not an answer
        head = f"<b>Closest passage, {escape(c.label)}</b> <i>(it does not answer the question)</i>"
    else:
        head = f"<b>[{c.n}] {escape(c.label)}</b>"
    return f"{head}\n<blockquote>{body}</blockquote>{note}"


def passage_button_label(c: Citation) -> str:
    """Where the passage is first (what a reader scans a row of buttons for), then which."""
    where = c.locator or c.label
    short = where if len(where) <= BUTTON_WHERE else where[: BUTTON_WHERE - 1] + "…"
    return f"[{c.n}] {short}" if c.n else f"Closest: {short}"


def document_names(manifest: Manifest) -> str:
    """The indexed files by name only: a public bot need not show paths on the server."""
    names = [s.path.replace("\\", "/").rsplit("/", 1)[-1] for s in manifest.sources]
    return ", ".join(names)


def start_html(first_name: str | None, manifest: Manifest, example: str, group: bool) -> str:
    hello = f"Hi {escape(first_name)}!" if first_name else "Hi!"
    lines = [
        f"{hello} I answer questions about <b>{escape(document_names(manifest))}</b> "
        f"({manifest.chunk_count} passages) with the document's own sentences and numbered "
        "sources you can open.",
        "",
        f"Try: <i>{escape(example)}</i>",
        "",
    ]
    if group:
        lines.append("In this group, mention me or reply to one of my messages, or use /ask.")
    lines.append("/help lists everything I can do.")
    return "\n".join(lines)


def help_html(username: str | None, max_question_chars: int) -> str:
    mention = f"@{escape(username)}" if username else "me"
    return "\n".join(
        [
            "<b>Ask me anything about the document.</b> I answer with its own sentences and "
            "cite them [1], [2]; the buttons under an answer show a cited passage in full. "
            "If the document doesn't cover it, I say so.",
            "",
            "Follow-up questions (<i>Who is he?</i>, <i>and China?</i>) use the conversation "
            "so far.",
            "",
            "/ask QUESTION — ask (the way to ask in a group)",
            "/sources — what I have read",
            "/doc NAME — search one document (/doc alone: all of them again)",
            "/reset — forget the conversation",
            "/help — this help",
            "",
            f"In groups I answer when you mention {mention}, reply to one of my messages, or "
            "use /ask. Questions can be up to "
            f"{max_question_chars:,} characters; I read text only.",
        ]
    )


def sources_html(manifest: Manifest) -> str:
    lines = [
        f"<b>Indexed</b>: {manifest.chunk_count} passages ({manifest.sentence_count} sentences), "
        f"built {escape(manifest.built_at)} with {escape(manifest.model)}.",
        "",
    ]
    for s in manifest.sources:
        # The name citations use (a file name, never its path on the server).
        name = s.name or s.path.replace("\\", "/").rsplit("/", 1)[-1]
        size = f"{s.pages} pages" if s.pages else f"{s.bytes:,} bytes"
        lines.append(
            f"• <b>{escape(name)}</b> ({escape(s.format)}, {size}, {s.chunks} passages, "
            f"sha256 <code>{escape(s.sha256[:12])}</code>…)"
        )
    if len(manifest.sources) > 1:
        lines += ["", "/doc NAME searches one of them."]
    return "\n".join(lines)


# --- splitting -----------------------------------------------------------------------------

_UNIT = re.compile(r"<[^>]*>|&(?:#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);|[^<&]|[<&]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w-]*)")


@dataclass(frozen=True)
class _Unit:
    raw: str  # a whole tag, a whole entity, or one character
    char: str  # the character it shows; "" for a tag
    width: int  # its length as Telegram counts it (UTF-16 code units)


def _units(text: str) -> list[_Unit]:
    out = []
    for match in _UNIT.finditer(text):
        raw = match.group()
        if raw.startswith("<") and len(raw) > 1:
            out.append(_Unit(raw, "", 0))
            continue
        char = html.unescape(raw) if raw.startswith("&") else raw
        out.append(_Unit(raw, char, sum(2 if ord(ch) > 0xFFFF else 1 for ch in char)))
    return out


def visible_length(text: str) -> int:
    """Length after entity parsing, in UTF-16 code units (how Telegram counts)."""
    return sum(u.width for u in _units(text))


def _break_rank(units: Sequence[_Unit], end: int) -> int:
    """How good a cut before units[end] is: 3 paragraph break, 2 line break, 1 space, 0 none."""
    seen = ""
    i = end - 1
    while i >= 0 and len(seen) < 2:
        if units[i].char:
            if not units[i].char.isspace():
                break
            seen = units[i].char + seen
        i -= 1
    if seen == "\n\n":
        return 3
    if "\n" in seen:
        return 2
    return 1 if seen else 0


def _tag_name(tag: str) -> str:
    match = _TAG_NAME.match(tag)
    return match.group(1).lower() if match else ""


def _tags_open(units: Sequence[_Unit], stack: list[str]) -> list[str]:
    """The start tags still open after `units`, given those open before them."""
    stack = list(stack)
    for u in units:
        if u.char or not _tag_name(u.raw):
            continue
        if u.raw.startswith("</"):
            name = _tag_name(u.raw)
            for k in range(len(stack) - 1, -1, -1):
                if _tag_name(stack[k]) == name:
                    del stack[k]
                    break
        elif not u.raw.endswith("/>"):
            stack.append(u.raw)
    return stack


def _close(stack: Sequence[str]) -> str:
    return "".join(f"</{_tag_name(tag)}>" for tag in reversed(stack))


def split_html(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Cut well-formed Telegram HTML into messages of at most `limit` visible characters.

    Cuts go at the last paragraph break that fits, else the last line break, else the last
    space, else anywhere between two characters; never inside a tag or an entity. Tags open
    at a cut are closed before it and reopened after it, so each piece parses on its own.
    """
    units = _units(text)
    pieces: list[str] = []
    stack: list[str] = []
    start = 0
    while start < len(units):
        # Whitespace at the start of a message is dropped by Telegram anyway.
        while start < len(units) and units[start].char.isspace():
            start += 1
        end = _cut(units, start, limit)
        chunk = units[start:end]
        after = _tags_open(chunk, stack)
        body = "".join(stack) + "".join(u.raw for u in chunk).rstrip() + _close(after)
        if any(u.char and not u.char.isspace() for u in chunk):
            pieces.append(body)
        stack, start = after, end
    return pieces


def _cut(units: Sequence[_Unit], start: int, limit: int) -> int:
    """Where the message starting at units[start] ends (exclusive)."""
    width, end = 0, start
    breaks: list[tuple[int, int, int]] = []  # (rank, width before the cut, cut)
    while end < len(units) and width + units[end].width <= limit:
        width += units[end].width
        end += 1
        if end < len(units):
            rank = _break_rank(units, end)
            if rank:
                breaks.append((rank, width, end))
    if end < len(units) and breaks:
        # The best kind of break, but not one that leaves a message under half full when
        # a lesser break would fill it: a heading line is no reason for a short message.
        full = [b for b in breaks if b[1] >= limit // 2] or breaks
        end = max(full)[2]
    # A start tag right before the cut belongs with the text it opens.
    while (
        end - start > 1
        and units[end - 1].raw.startswith("<")
        and not units[end - 1].char
        and (not units[end - 1].raw.startswith("</"))
    ):
        end -= 1
    return max(end, start + 1)
