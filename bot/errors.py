"""Errors a user can act on. Front ends print their message on one line; no traceback."""


class QABotError(Exception):
    """Base class: the message is written for the user and says how to fix it."""


class ConfigError(QABotError):
    pass


class SourceError(QABotError):
    """A document that cannot be read: missing, empty, binary or not UTF-8."""


class IndexStoreError(QABotError):
    """The index on disk is missing, corrupt, stale or built for another model."""


class IndexBusyError(IndexStoreError):
    pass


class TelegramSetupError(QABotError):
    """The Telegram bot cannot start: token rejected, Bot API unreachable."""
