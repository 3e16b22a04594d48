"""The queue told to this node's available agents: throttled, and only its changes.

However often the queue changes, a node tells its agents at most ``1 / ANNOUNCE_EVERY_S``
times a second: the first change after a quiet spell at once, the rest of a burst
together once the interval has passed. An agent that has just become available (joined,
back from a call or a break) is sent the whole queue (``queue``); one that was already
told is sent only what changed since (``queue_changes``: the offers added, with their
places, and the ids removed). What is sent for a change does not grow with the queue's
length, and it is worked out once for all the agents, not once per agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .protocol import QueueState
from .queue_changes import changes
from .roster import Roster
from .session import Client

logger = logging.getLogger(__name__)

#: The shortest time between two announcements of the queue by this node (seconds).
ANNOUNCE_EVERY_S = 0.25


class Throttle:
    """Runs the latest requested announcement at most once per ``interval_s``.

    Announcements run in a task of their own, never in the caller's: reading the shared
    queue waits on Redis, and a handler must not wait for Redis to come back.
    """

    def __init__(self, interval_s: float = ANNOUNCE_EVERY_S) -> None:
        self.interval_s = interval_s
        self._last = -interval_s
        self._latest: Callable[[], Awaitable[None]] | None = None
        self._task: asyncio.Task[None] | None = None

    def request(self, announce: Callable[[], Awaitable[None]]) -> None:
        """Run ``announce`` at once if the interval has passed, else once it has (the latest)."""
        self._latest = announce
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="queue announcement")

    async def _run(self) -> None:
        while (announce := self._latest) is not None:
            wait = self._last + self.interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                announce = self._latest or announce  # the latest of the burst
            self._latest, self._last = None, time.monotonic()
            try:
                await announce()
            except Exception as exc:  # a client's socket, say: the next change retries
                logger.warning("announcing the queue failed: %s", exc)


class OfferFeed:
    """What this node's available agents were last told of the queue."""

    def __init__(self) -> None:
        #: The offer ids as last announced, head first.
        self._told: list[str] = []
        #: The agents whose list is ``_told``: connection id, and since when available.
        self._current: set[tuple[str, float]] = set()

    async def publish(self, roster: Roster, offers: Sequence[dict[str, Any]]) -> None:
        """Tell each available agent the queue ``offers``: the whole, or what changed."""
        free = {_key(agent): agent for agent in roster.free_agents()}
        fresh = [agent for key, agent in free.items() if key not in self._current]
        told = [agent for key, agent in free.items() if key in self._current]
        if told:
            change = changes(self._told, offers)
            if change is not None:
                await roster.tell(told, change)
        if fresh:
            await roster.tell(fresh, QueueState(waiting=list(offers)))
        # An agent not available now (in a call, away, gone), or available again since
        # (its presence changed in between), gets the whole queue again.
        self._told = [offer["offer_id"] for offer in offers]
        self._current = set(free)


def _key(agent: Client) -> tuple[str, float]:
    """An agent's socket and the moment it last became available."""
    return agent.id, agent.presence_since
