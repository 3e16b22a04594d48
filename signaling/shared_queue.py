"""The waiting queue when several nodes share it through Redis (``cluster.SharedQueue``).

This node keeps its own waiting sessions (it owns them: their kiosks' sockets are here)
and mirrors each into the shared queue, where agents on any node claim them. What kiosks
and agents are told is read from the shared queue, at most a few times a second however
often it changes, and an agent is sent the offers only when they differ from what it
was last sent.
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

#: The shortest time between two announcements of the queue by this node (seconds).
ANNOUNCE_EVERY_S = 0.25


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
        #: The offer ids each free agent (by connection id) was last sent.
        self._sent: dict[str, list[str]] = {}
        self._pending: asyncio.Task[None] | None = None
        #: Told of each failure to read the shared queue (metrics).
        self.on_error: Callable[[str], None] = lambda operation: None
        self._again = False

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

    async def announce(self, roster: Roster, handling: HandlingTimes) -> None:
        """Announce soon: changes that come in a burst are announced once."""
        if self._pending is not None and not self._pending.done():
            self._again = True
            return
        self._pending = asyncio.create_task(self._announce(roster, handling))

    async def _announce(self, roster: Roster, handling: HandlingTimes) -> None:
        while True:
            self._again = False
            await asyncio.sleep(ANNOUNCE_EVERY_S)
            try:
                await self._announce_now(roster, handling)
            except Exception as exc:  # Redis away: the next change or heartbeat retries
                self.on_error("queue announce")
                logger.warning("announcing the queue failed: %s", exc)
            if not self._again:
                return

    async def _announce_now(self, roster: Roster, handling: HandlingTimes) -> None:
        self._entries = await self.shared.waiting()
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
        offers = [entry.offer_id for entry in self._entries]
        free = list(roster.free_agents())
        self._sent = {a.id: self._sent[a.id] for a in free if a.id in self._sent}
        changed = [agent for agent in free if self._sent.get(agent.id) != offers]
        if changed:
            await roster.tell(changed, self.state())
            for agent in changed:
                self._sent[agent.id] = offers

    def state(self) -> QueueState:
        now = time.time()
        return QueueState(waiting=[entry.offer(now) for entry in self._entries])

    def overview(self) -> list[dict[str, Any]]:
        now = time.time()
        return [entry.overview(now) for entry in self._entries]
