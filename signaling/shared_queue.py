"""The waiting queue when several nodes share it through Redis (``cluster.SharedQueue``).

This node keeps its own waiting sessions (it owns them: their kiosks' sockets are here)
and mirrors each into the shared queue, where agents on any node claim them. What kiosks
and agents are told is read from the shared queue, at most a few times a second however
often it changes (``signaling.queue_feed``): an agent is sent the whole queue once, then
only what changed, whichever node the change came from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from cluster import QueueEntry, SharedQueue
from cluster.queue import BAND, FIRST, NORMAL

from .errors import OutOfOrder
from .protocol import QueuePosition, QueueState
from .queue import HandlingTimes, WaitingQueue
from .roster import Roster
from .session import LiveSession

logger = logging.getLogger(__name__)


def queue_entry(session: LiveSession, node: str, *, front: bool) -> QueueEntry:
    """The shared queue's entry for ``session``, scored once (the score moves with it)."""
    if session.queue_score is None:
        waited_ms = round((time.monotonic() - session.queued_at) * 1000)
        session.queue_score = (FIRST if front else NORMAL) * BAND + time.time() * 1000 - waited_ms
    return QueueEntry(
        session_id=session.id,
        offer_id=session.offer_id,
        service=session.service,
        branch=session.kiosk.branch,
        kiosk=session.kiosk.name,
        owner=node,
        queued_at=(session.queue_score % BAND) / 1000,
        score=session.queue_score,
    )


class NodeQueue(WaitingQueue):
    """This node's waiting sessions, mirrored into the queue every node shares."""

    def __init__(self, shared: SharedQueue, node: str) -> None:
        super().__init__()
        self.shared, self.node = shared, node
        #: The shared queue as last read.
        self._entries: list[QueueEntry] = []
        #: Told of each failure to read the shared queue (metrics).
        self.on_error: Callable[[str], None] = lambda operation: None

    def __len__(self) -> int:
        return len(self._entries)

    async def join(self, session: LiveSession, *, front: bool = False) -> None:
        await super().join(session, front=front)
        await self.shared.join(queue_entry(session, self.node, front=front))

    async def leave(self, session: LiveSession) -> bool:
        here = self.forget(session)
        return await self.shared.leave(session.id) or here

    async def republish(self) -> None:
        """Put this node's waiting sessions back (Redis lost them), at their old places."""
        for session in self:
            await self.shared.join(queue_entry(session, self.node, front=False))

    async def follow_hints(self, roster: Roster, handling: HandlingTimes) -> None:
        """Announce the queue whenever another node hints that it changed (runs for ever)."""
        redis = self.shared.redis
        while True:
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.shared.keys.queue_changed)
                    async for item in pubsub.listen():
                        if item.get("type") == "message":
                            await self.announce(roster, handling)
            except (RedisError, OSError) as exc:
                self.on_error("queue hints")
                logger.warning("queue hints lost (Redis): %s", exc)
                await asyncio.sleep(1.0)

    def take(self, offer_id: str | None) -> LiveSession:
        raise OutOfOrder("accept", "offers are claimed from the shared queue")

    async def _announce_now(self, roster: Roster, handling: HandlingTimes) -> None:
        try:
            self._entries = await self.shared.waiting()
        except (RedisError, OSError) as exc:  # the next change or heartbeat retries
            self.on_error("queue announce")
            logger.warning("announcing the queue failed (Redis): %s", exc)
            return
        places = {entry.session_id: n for n, entry in enumerate(self._entries, start=1)}
        working = roster.working()
        for session in self:
            place = places.get(session.id)
            if place is not None:
                update = QueuePosition(
                    session_id=session.id,
                    position=place,
                    waiting=len(self._entries),
                    estimated_wait_s=handling.estimated_wait_s(place, working),
                )
                await roster.tell([session.kiosk], update)
        await self.feed.publish(roster, self.state().waiting)

    def state(self) -> QueueState:
        now = time.time()
        return QueueState(waiting=[entry.offer(now) for entry in self._entries])

    def overview(self) -> list[dict[str, Any]]:
        now = time.time()
        return [entry.overview(now) for entry in self._entries]
