"""The bot on a live index: a new build made by another process (`qabot index rebuild`,
`add`, `remove`) answers from the next question on, without a restart.

The check and the load run in the engine's threads, never on the event loop; the service
swaps its engine under a lock, so a question being answered finishes on the build it began
with. SIGHUP makes the bot look at once (`kill -HUP`, `systemctl reload`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.types import Answer, Citation, Turn
    from bot.service import QAService

log = logging.getLogger("bot.telegram")


class LiveIndex:
    def __init__(self, service: QAService, executor: Executor):
        self.service = service
        self.executor = executor
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()

    async def refresh(self, force: bool = False) -> None:
        """Take up a new build if there is one (at most one look a second unless forced)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self.service.reload_if_changed, force)

    async def answer(
        self, question: str, history: Sequence[Turn], document: str | None = None
    ) -> Answer:
        """The answer from the newest build, computed in the engine's threads."""

        def fresh_answer() -> Answer:
            self.service.reload_if_changed()
            return self.service.ask(question, history, document=document)

        return await asyncio.get_running_loop().run_in_executor(self.executor, fresh_answer)

    async def still_indexed(self, citation: Citation) -> bool:
        """Whether the index answering now holds the cited passage as it was quoted."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self.service.has_passage, citation.chunk_id, citation.text
        )

    def install(self) -> None:
        """SIGHUP: look for a new build now. Only where the loop can take signals (the main
        thread, on Unix); elsewhere the check before each question still works."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            return
        self._loop = loop

    def remove(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_signal_handler(signal.SIGHUP)
        self._loop = None

    def _on_hangup(self) -> None:
        log.info("SIGHUP: looking for a new build of the index")
        task = asyncio.get_running_loop().create_task(self.refresh(force=True))
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)
