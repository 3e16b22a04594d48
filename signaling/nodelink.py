"""What the call centre asks of the other nodes, and the answer when there are none.

``CallCentre`` calls its ``NodeLink`` at the few points where several nodes matter: a
message from a party whose call another node owns, a kiosk resuming, an agent claiming a
waiting customer, a session owned or given up, a party joining or leaving.
``OneNode`` (the embedded default) answers as one process does; ``signaling.federation``
answers with Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .protocol import Message, Resume
from .session import Client, LiveSession

if TYPE_CHECKING:
    from .queue import WaitingQueue


@dataclass
class Everywhere:
    """What supervisors see of every node: agents and calls (JSON-ready), as last read."""

    agents: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)


class NodeLink(Protocol):
    """The call centre's view of the other nodes."""

    async def route(self, client: Client, message: Message) -> bool:
        """Pass ``message`` to the node that owns ``client``'s call; whether it did."""
        ...

    async def joined(self, client: Client) -> None:
        """``client`` joined on this node."""
        ...

    async def gone(self, client: Client) -> None:
        """``client``'s socket on this node closed."""
        ...

    async def own(self, session: LiveSession) -> None:
        """This node owns ``session`` (runs its relay, workflow and recorder)."""
        ...

    async def disown(self, session: LiveSession) -> None:
        """``session`` ended for good."""
        ...

    async def claim(self, agent: Client, offer_id: str | None) -> LiveSession | None:
        """Take a waiting session for ``agent``; None when its owner (another node) matches."""
        ...

    async def resume(self, client: Client, message: Resume) -> bool:
        """Resume where the session is (another node, or the queue); whether it did."""
        ...

    async def held_agent(self, session_id: str) -> Client | None:
        """The agent on another node who waits for this session's customer, if any."""
        ...

    def draining(self) -> bool:
        """Whether this node takes no new connections (it drains before it stops)."""
        ...

    async def agent_of(self, session_id: str) -> str | None:
        """The agent of a call under way on another node (None: not known elsewhere)."""
        ...

    def everywhere(self) -> Everywhere | None:
        """Every node's agents and calls, as last read (None: this node is all there is)."""
        ...

    def status(self) -> dict[str, Any]:
        """This node among the others, for /healthz."""
        ...

    def problems(self) -> list[str]:
        """What is degraded between the nodes, in words for operators."""
        ...


class OneNode:
    """One process: every call is this node's, the queue is in memory."""

    def __init__(self, queue: WaitingQueue) -> None:
        self.queue = queue

    async def route(self, client: Client, message: Message) -> bool:
        return False

    async def joined(self, client: Client) -> None:
        pass

    async def gone(self, client: Client) -> None:
        pass

    async def own(self, session: LiveSession) -> None:
        pass

    async def disown(self, session: LiveSession) -> None:
        pass

    async def claim(self, agent: Client, offer_id: str | None) -> LiveSession | None:
        return self.queue.take(offer_id)

    async def resume(self, client: Client, message: Resume) -> bool:
        return False

    async def held_agent(self, session_id: str) -> Client | None:
        return None

    def draining(self) -> bool:
        return False

    async def agent_of(self, session_id: str) -> str | None:
        return None

    def everywhere(self) -> Everywhere | None:
        return None

    def status(self) -> dict[str, Any]:
        return {}

    def problems(self) -> list[str]:
        return []
