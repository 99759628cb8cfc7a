"""Secrets out of logs and errors, and the running bot's log lines.

The token is in every Bot API URL, and httpx logs request URLs at INFO: `redacting` keeps
httpx and httpcore at WARNING and scrubs the token and the webhook secret from every record,
whichever library makes it. A server may echo the request's path back in any spelling (lower
case, `:` as `%3A`, JSON-escaped), so a secret is matched in all of them, and its part after
the bot id on its own too. `protect` installs that for the whole process, before the first
request: log records, the CLI's output (`bot.cli.safe`) and a --debug traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal


class Redactor(logging.Filter):
    """Replaces secrets in a record's message, arguments and traceback with [REDACTED]."""

    def __init__(self, secret_values: Iterable[str | None]):
        super().__init__()
        self.secrets = sorted(_parts({s for s in secret_values if s}), key=len, reverse=True)
        self.patterns = [_spellings(value) for value in self.secrets]

    def redact(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub("[REDACTED]", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it later, unredacted parts aside
            message = str(record.msg)
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text, so the traceback is rendered once, redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


# A bot token's secret half, after "<bot id>:", is a secret on its own (a path split at the
# colon still shows it); shorter values would be redacted wherever they occur by chance.
_MIN_PART = 16


def _parts(values: set[str]) -> set[str]:
    halves = {v.partition(":")[2] for v in values if len(v.partition(":")[2]) >= _MIN_PART}
    return values | halves


def _spellings(secret: str) -> re.Pattern[str]:
    """`secret` in any case, each character as itself, percent-encoded (once or twice, as a
    path quoted again shows it) or JSON-escaped: how a server or a library may echo a URL."""
    alternatives = []
    for char in secret:
        forms = [re.escape(char)]
        if ord(char) < 0x80:
            code = f"{ord(char):02x}"
            forms += [f"%(?:25)?{code}", f"\\\\u00{code}"]
        alternatives.append(f"(?:{'|'.join(forms)})")
    return re.compile("".join(alternatives), re.IGNORECASE)


_PROTECTED: list[Redactor] = []


def protect(secret_values: Iterable[str | None]) -> Redactor:
    """From now until the process ends: every log record made, every line the CLI prints
    (`scrub`) and an uncaught exception's traceback (--debug) have these secrets redacted.
    Installed before the first request, so nothing a library logs or raises escapes it."""
    redactor = Redactor(secret_values)
    if not redactor.secrets:
        return redactor
    if not _PROTECTED:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            for known in _PROTECTED:
                known.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        hook = sys.excepthook

        def excepthook(kind: Any, value: Any, tb: Any) -> None:
            import traceback

            sys.stderr.write(scrub("".join(traceback.format_exception(kind, value, tb))))

        sys.excepthook = excepthook if hook is sys.__excepthook__ else hook
    _PROTECTED.append(redactor)
    return redactor


def scrub(text: str) -> str:
    """`text` with every secret given to `protect` redacted (unchanged if none was)."""
    for redactor in _PROTECTED:
        text = redactor.redact(text)
    return text


@contextlib.contextmanager
def redacting(secret_values: Iterable[str | None]) -> Iterator[Redactor]:
    """While inside: httpx/httpcore at WARNING, and every log record redacted as it is made.

    The redaction hooks the log-record factory, so it covers records from any library and
    reaches every handler, including ones added later (a test's log capture among them).
    """
    redactor = Redactor(secret_values)
    quiet = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield redactor
    finally:
        logging.setLogRecordFactory(previous)
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


# Libraries whose INFO lines say nothing to someone running the bot (faiss reports the
# CPU builds it could not load, which reads like an error; bm25s logs at DEBUG whatever
# the root level, setting its own level when it is imported).
CHATTY_LOGGERS = frozenset({"faiss", "sentence_transformers", "transformers", "bm25s"})


def _not_chatty(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] not in CHATTY_LOGGERS


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and exception or stack
    text if any. The finished line goes through the redactor once more, whatever path a
    secret took into the record (JSON leaves a token as it is: it has no character to escape).
    """

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.redactor.redact(json.dumps(entry, ensure_ascii=False))


@contextlib.contextmanager
def bot_logging(
    secret_values: Iterable[str | None],
    verbose: bool = False,
    log_format: Literal["text", "json"] = "text",
) -> Iterator[None]:
    """Log lines on stderr for the running bot, secrets redacted; --verbose: debug lines.

    Python warnings become log records too, so that with `json` every line is JSON.
    """
    handler = logging.StreamHandler(sys.stderr)
    if not verbose:
        handler.addFilter(_not_chatty)
    root = logging.getLogger()
    level = root.level
    with redacting(secret_values) as redactor:
        handler.setFormatter(
            JsonFormatter(redactor)
            if log_format == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        handler.addFilter(redactor)
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
        logging.captureWarnings(True)
        try:
            yield
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(level)
