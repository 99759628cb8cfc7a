"""Errors a user can act on. Front ends print their message on one line; no traceback."""


class QABotError(Exception):
    """Base class: the message is written for the user and says how to fix it."""


class ConfigError(QABotError):
    """A setting that cannot work: a bad value, a model that does not load."""


class SourceError(QABotError):
    """A document that cannot be read: missing, empty, binary or not UTF-8."""


class IndexStoreError(QABotError):
    """The index on disk is missing, corrupt, stale, not qabot's, or built for another model."""


class IndexDamaged(IndexStoreError):
    """The index is damaged: the message says how to rebuild it, `what` what is wrong."""

    def __init__(self, message: str, what: str):
        super().__init__(message)
        self.what = what


class OlderIndex(IndexStoreError):
    """An index built by an older qabot (before index.db): brought up to date when it is
    next opened with write access (IndexStore.migrate)."""


class QuestionError(QABotError):
    """A question that cannot be asked: empty."""
