"""Who is connected: the joined kiosks and agents, and the agents' presence."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from common import Presence, Role

from .protocol import Message
from .protocol import Presence as PresenceMessage
from .session import Client

logger = logging.getLogger(__name__)

#: Agents counted as working for the wait estimate.
_WORKING = frozenset({Presence.AVAILABLE, Presence.BUSY})


class Roster:
    """The joined clients; agents with their presence."""

    def __init__(self) -> None:
        self._clients: set[Client] = set()
        #: Told when an agent's presence is set (several nodes share it through Redis).
        self.watch: Callable[[Client], Awaitable[None]] | None = None

    def __contains__(self, client: object) -> bool:
        return client in self._clients

    def add(self, client: Client) -> None:
        """``client`` has joined."""
        self._clients.add(client)

    def discard(self, client: Client) -> None:
        """``client``'s socket closed."""
        self._clients.discard(client)

    def agents(self) -> Iterator[Client]:
        """The joined agents whose sockets are on this node."""
        return (c for c in list(self._clients) if c.role is Role.AGENT and c.home is None)

    def free_agents(self) -> Iterator[Client]:
        """The agents who are available and not in a call: those a queue offer goes to."""
        return (
            c
            for c in self.agents()
            if c.session is None and c.remote is None and c.presence is Presence.AVAILABLE
        )

    def working(self) -> int:
        """How many agents are available or in a call."""
        return sum(1 for c in self.agents() if c.presence in _WORKING)

    async def set_presence(self, client: Client, state: Presence) -> None:
        """Set an agent's presence and tell the agent (if its socket is still open)."""
        if client.presence is not state:
            logger.info("%s: %s -> %s", client.label, client.presence, state)
            client.presence, client.presence_since = state, time.monotonic()
        await self.tell([client], PresenceMessage(state=state))
        if self.watch is not None and client.home is None:
            await self.watch(client)

    async def tell(self, clients: Iterator[Client] | list[Client], message: Message) -> None:
        """Send ``message`` to each of ``clients`` still joined; a closed socket is skipped."""
        sends = [c.send(message) for c in clients if c in self._clients]
        await asyncio.gather(*sends, return_exceptions=True)

    def overview(self) -> list[dict[str, Any]]:
        """Every joined agent's presence and call, for supervisors."""
        now = time.monotonic()
        return [
            {
                "name": c.name,
                "presence": c.presence,
                "session_id": None if c.session is None else c.session.id,
                "service": None if c.session is None else c.session.service,
                "since_s": round(now - c.presence_since),
            }
            for c in sorted(self.agents(), key=lambda c: c.name)
        ]
