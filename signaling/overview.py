"""What the console pages may see of the calls under way: a narrow, read-only view.

The pages are given a ``LiveCalls`` (never the ``CallCentre`` itself): the services
offered, the queue, the calls and the agents, as plain values made when asked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from common import Language, Role

if TYPE_CHECKING:
    from .hub import CallCentre


@dataclass(frozen=True, slots=True)
class CallParty:
    """One end of a call as a supervisor sees it."""

    name: str
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call in progress: who, which service, which step, whether it records."""

    id: str
    service: str
    kiosk: CallParty
    agent: CallParty
    #: The workflow step the call is at.
    state: str
    recording: bool
    #: Seconds since the recording of this part started, if it has.
    call_s: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveCall:
        """A call as ``to_json`` gave it (from another node)."""
        return cls(
            id=data["session_id"],
            service=data["service"],
            kiosk=CallParty(data["kiosk"], data["branch"]),
            agent=CallParty(data["agent"]),
            state=data["step"],
            recording=data["recording"],
            call_s=data["call_s"],
        )

    def to_json(self) -> dict[str, Any]:
        """The call as the supervisor's page reads it."""
        return {
            "session_id": self.id,
            "service": self.service,
            "branch": self.kiosk.branch,
            "kiosk": self.kiosk.name,
            "agent": self.agent.name,
            "step": self.state,
            "recording": self.recording,
            "call_s": self.call_s,
        }


class LiveCalls(Protocol):
    """What the console pages may ask of the live calls."""

    def service_titles(self) -> dict[str, dict[str, str]]:
        """Each service offered, with its title by language."""
        ...

    def waiting(self) -> list[dict[str, Any]]:
        """The waiting customers, head of the queue first, as agents see them."""
        ...

    def calls(self) -> list[LiveCall]:
        """The calls with an agent, under way."""
        ...

    def agents(self) -> list[dict[str, Any]]:
        """Every connected agent's presence and call."""
        ...

    async def agent_of(self, session_id: str) -> str | None:
        """The name of the agent in session ``session_id``'s call, or holding it for a resume."""
        ...


class CentreOverview:
    """The ``LiveCalls`` of a running ``CallCentre``."""

    def __init__(self, centre: CallCentre) -> None:
        self._centre = centre

    def service_titles(self) -> dict[str, dict[str, str]]:
        """Each service offered, with its title by language."""
        return {
            name: {language: flow.title[language] for language in Language}
            for name, flow in self._centre.flows.items()
        }

    def waiting(self) -> list[dict[str, Any]]:
        """The waiting customers, head of the queue first, as agents see them."""
        return self._centre.queue.overview()

    def calls(self) -> list[LiveCall]:
        """The calls with an agent, under way (on every node, with several)."""
        everywhere = self._centre.nodes.everywhere()
        if everywhere is None:
            return self.local_calls()
        return [LiveCall.from_json(call) for call in everywhere.calls]

    def local_calls(self) -> list[LiveCall]:
        """The calls with an agent under way on this node."""
        now = time.time()
        return [
            LiveCall(
                id=s.id,
                service=s.service,
                kiosk=CallParty(s.kiosk.name, s.kiosk.branch),
                agent=CallParty(s.agent.name, s.agent.branch),
                state=s.state,
                recording=s.recording,
                call_s=None if s.t0 is None else round(now - s.t0),
            )
            for s in self._centre.sessions.values()
            if s.agent is not None
        ]

    def agents(self) -> list[dict[str, Any]]:
        """Every connected agent's presence and call (on every node, with several)."""
        everywhere = self._centre.nodes.everywhere()
        return self._centre.roster.overview() if everywhere is None else everywhere.agents

    async def agent_of(self, session_id: str) -> str | None:
        """The name of the agent in session ``session_id``'s call, or holding it for a resume."""
        session = self._centre.sessions.get(session_id)
        # A call whose customer is reconnecting is held for its agent meanwhile.
        if session is None:
            session = self._centre.held.get(session_id)
        agent = None if session is None else session.agent
        if agent is None or agent.role != Role.AGENT:
            # Another node's call (the page may be served by any node).
            return await self._centre.nodes.agent_of(session_id)
        return agent.name
