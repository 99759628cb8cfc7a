"""The one API every front end uses: open the configured index, ask, converse, rebuild, status.

It maps the user's `Settings` (bot.config) onto the core's own settings, so the core never
sees a config file and a front end never assembles an embedder, an index and an engine by
hand. Front ends import this module, `bot.core.types` and `bot.core.errors`; nothing else of
the core (an import contract in `make test` checks it).
"""

from bot.service.answering import Conversation, ConversationState, QAService
from bot.service.index import IndexStatus, add, check_sources, rebuild, remove, status
from bot.service.mapping import (
    answer_settings,
    chunker_settings,
    embedder_settings,
    index_settings,
    preload_model,
    selector_path,
)

__all__ = [
    "Conversation",
    "ConversationState",
    "IndexStatus",
    "QAService",
    "add",
    "answer_settings",
    "check_sources",
    "chunker_settings",
    "embedder_settings",
    "index_settings",
    "preload_model",
    "rebuild",
    "remove",
    "selector_path",
    "status",
]
