"""Secrets out of logs, and the running bot's log lines.

The token is in every Bot API URL, and httpx logs request URLs at INFO: `redacting` keeps
httpx and httpcore at WARNING and scrubs the token and the webhook secret from every record,
whichever library makes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal


class Redactor(logging.Filter):
    """Replaces secrets in a record's message, arguments and traceback with [REDACTED]."""

    def __init__(self, secret_values: Iterable[str | None]):
        super().__init__()
        self.secrets = sorted({s for s in secret_values if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "[REDACTED]")
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
