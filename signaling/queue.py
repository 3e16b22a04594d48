"""The waiting customers, first come first served, and what their wait is likely to be."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from .errors import OutOfOrder, SignalingError
from .protocol import QueuePosition, QueueState
from .queue_feed import OfferFeed, Throttle
from .roster import Roster
from .session import LiveSession

#: The handling time assumed for the wait estimate until a call has ended today.
DEFAULT_HANDLING_S = 600.0


class WaitingQueue:
    """Sessions waiting for an agent, in the order they will be served."""

    def __init__(self) -> None:
        self._waiting: list[LiveSession] = []
        #: Announcements of the queue, at most a few a second however often it changes.
        self.throttle = Throttle()
        #: What the available agents were last told of it.
        self.feed = OfferFeed()

    def __len__(self) -> int:
        return len(self._waiting)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._waiting))

    def __contains__(self, session: object) -> bool:
        return session in self._waiting

    async def join(self, session: LiveSession, *, front: bool = False) -> None:
        """Queue ``session`` at the back, or at the front (its customer waited once already)."""
        if front:
            self._waiting.insert(0, session)
        else:
            self._waiting.append(session)

    async def leave(self, session: LiveSession) -> bool:
        """Take ``session`` out of the queue; whether it was waiting."""
        return self.forget(session)

    def forget(self, session: LiveSession) -> bool:
        """Take ``session`` out of this node's list; whether it was in it."""
        if session in self._waiting:
            self._waiting.remove(session)
            return True
        return False

    def take(self, offer_id: str | None) -> LiveSession:
        """Take the session offered as ``offer_id`` out of the queue, or its head if None."""
        if not self._waiting:
            raise OutOfOrder("accept", "queue empty")
        if offer_id is None:
            return self._waiting.pop(0)
        for session in self._waiting:
            if session.offer_id == offer_id:
                self._waiting.remove(session)
                return session
        raise SignalingError(f'offer "{offer_id[:40]}" is not waiting (taken, or left)')

    async def announce(self, roster: Roster, handling: HandlingTimes) -> None:
        """The queue changed: announce it now, or with the rest of a burst of changes."""
        self.throttle.request(lambda: self._announce_now(roster, handling))

    async def _announce_now(self, roster: Roster, handling: HandlingTimes) -> None:
        """Tell each waiting kiosk its place and likely wait, and free agents the queue."""
        waiting, working = list(self._waiting), roster.working()
        for position, session in enumerate(waiting, start=1):
            update = QueuePosition(
                session_id=session.id,
                position=position,
                waiting=len(waiting),
                estimated_wait_s=handling.estimated_wait_s(position, working),
            )
            await roster.tell([session.kiosk], update)
        await self.feed.publish(roster, self.state().waiting)

    def state(self) -> QueueState:
        """The waiting customers, as available agents see them (offers only)."""
        now = time.monotonic()
        return QueueState(waiting=[session.offer(now) for session in self._waiting])

    def overview(self) -> list[dict[str, Any]]:
        """The waiting customers, as supervisors see them."""
        now = time.monotonic()
        return [session.queue_entry(now) for session in self._waiting]


class HandlingTimes:
    """Today's call lengths, for estimating how long a waiting customer will wait."""

    def __init__(self) -> None:
        self._lengths: list[float] = []
        self._day: date = datetime.now(UTC).date()

    def add(self, seconds: float) -> None:
        """A call of ``seconds`` ended."""
        self._roll()
        self._lengths.append(seconds)

    def estimated_wait_s(self, position: int, working_agents: int) -> int:
        """A customer's expected wait at ``position``: today's mean call over the agents."""
        self._roll()
        mean = sum(self._lengths) / len(self._lengths) if self._lengths else DEFAULT_HANDLING_S
        return round(position * mean / max(working_agents, 1))

    def _roll(self) -> None:
        today = datetime.now(UTC).date()
        if today != self._day:
            self._lengths, self._day = [], today
