"""Text from documents, file names, URLs and questions on its way to a terminal.

Any of them may hold control sequences (ESC and OSC sequences clear the screen, set the
window title or plant hyperlinks), bidirectional overrides (which make text read other than
it is) or lone surrogates (an argument that was not UTF-8). On a terminal they are dropped;
in JSON they stay, escaped, so the data is exact and still harmless to print.

Nothing printed is Rich markup: text is assembled as Rich `Text` (see `styled`), so brackets,
backslashes and `:emoji:` codes in a document, a file name or a question show as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import click
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.style import StyleType
from rich.text import Text

# ESC sequences: CSI (ESC [ … final byte), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC strings
# (ESC P|X|^|_ … ST), and two-byte ones (ESC and one character).
_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|.?)",
    re.DOTALL,
)
# C0 controls but tab and newline, DEL, C1 controls, bidi overrides and isolates, surrogates.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL = re.compile(f"[{_UNSAFE}]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` without anything a terminal would act on rather than show, and with any secret
    the process protects (the bot's token) redacted: every line the CLI prints passes here."""
    from bot.telegram.redact import scrub

    return _CONTROL.sub("", _SEQUENCE.sub("", scrub(text)))


def styled(*parts: str | tuple[str, StyleType], style: StyleType = "") -> Text:
    """Rich Text of `parts`, plain strings or (string, style) pairs, each made printable on
    its own (a sequence cut off at the end of one part cannot eat the start of the next), and
    never read as markup or emoji codes. `style` applies to the whole."""
    text = Text(style=style)
    for part in parts:
        plain, part_style = (part, None) if isinstance(part, str) else part
        text.append(printable(plain), style=part_style)
    return text


def json_safe(encoded: str) -> str:
    """JSON text (json.dumps already escapes C0 controls) with the rest of what a terminal
    might act on escaped too: the same data, nothing raw."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)


def echo(message: str = "", err: bool = False) -> None:
    """click.echo, printable, with any secret the process protects redacted."""
    click.echo(printable(message), err=err)


def echo_json(encoded: str) -> None:
    """JSON text, with what json.dumps leaves raw escaped (see json_safe)."""
    click.echo(json_safe(encoded))


class SafeConsole(Console):
    """A Rich console that renders everything printable: strings (printed, or a table's cell)
    and, since a Text made anywhere but `styled` would skip render_str, whatever any
    renderable yields, save the control codes Rich itself sends (cursor moves of a live
    progress bar)."""

    def render_str(self, text: str, *args: Any, **kwargs: Any) -> Any:
        return super().render_str(printable(text), *args, **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterator[Segment]:
        # Every sequence begins with ESC, a C0 control: _CONTROL finds any segment to clean.
        for segment in super().render(renderable, options):
            if segment.control is None and _CONTROL.search(segment.text):
                segment = Segment(printable(segment.text), segment.style)
            yield segment
