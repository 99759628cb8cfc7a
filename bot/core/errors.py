"""Errors a user can act on. Front ends print their message on one line; no traceback."""


class QABotError(Exception):
    """Base class: the message is written for the user and says how to fix it."""


class ConfigError(QABotError):
    """A setting that cannot work: a bad value, a model that does not load."""


class SourceError(QABotError):
    """A document that cannot be read: missing, empty, binary or not UTF-8."""


class IndexStoreError(QABotError):
    """The index on disk is missing, corrupt, stale, not qabot's, or built for another model."""


class QuestionError(QABotError):
    """A question that cannot be asked: empty."""
