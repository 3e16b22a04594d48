"""Background tasks that are kept track of: started, awaited or cancelled as a group.

asyncio holds only weak references to tasks, so a task started and forgotten may be
collected mid-run; and a component that starts tasks must be able to wait for them
before it closes. ``TaskGroup`` of the stdlib fails the group on the first error and
needs a ``with`` block; this set is for work that outlives the call that starts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from typing import Any

logger = logging.getLogger(__name__)


class BackgroundTasks:
    """A set of running tasks; each leaves the set when it finishes."""

    def __init__(self, name: str = "background") -> None:
        self.name = name
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``work`` in the background and keep hold of it until it finishes."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("%s task failed: %r", self.name, exc, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Future[Any]]:
        return iter(list(self._tasks))

    async def join(self) -> None:
        """Wait until every task, including those started meanwhile, has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every task and wait for them to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
