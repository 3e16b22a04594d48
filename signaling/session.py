"""The live state of connected clients and of the calls between them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common import RecordingLayout
from media import SessionRelay
from storage.shipping import RecordingRef
from workflow import Flow, FlowContext, Step

from .protocol import Message
from .webauth import WebUser


@dataclass(eq=False)
class Client:
    """One connected kiosk or agent."""

    send: Callable[[Message], Awaitable[None]]
    role: str | None = None
    name: str = ""
    branch: str | None = None
    language: str = "zh-CN"
    session: LiveSession | None = None
    #: Who signed in to the page that opened this socket (None for token clients).
    web_user: WebUser | None = None
    #: An agent's presence (see protocol.PRESENCE_STATES) and since when (monotonic).
    presence: str = "available"
    presence_since: float = field(default_factory=time.monotonic)

    @property
    def label(self) -> str:
        """How logs name the client (never its token)."""
        return f"{self.role or 'unjoined'}:{self.name or '?'}"


@dataclass
class Unchained:
    """An evidence file written before the recording's hash chain existed."""

    name: str
    sha256: str
    bytes: int


@dataclass(eq=False)
class LiveSession:
    """A customer's call, from queueing to hang-up (or one part of it, after a restart)."""

    id: str
    service: str
    flow: Flow
    kiosk: Client
    state: str
    context: FlowContext = field(default_factory=FlowContext)
    #: The recording part this call makes: 1, then 2, 3... after each resumption.
    part: int = 1
    queued_at: float = field(default_factory=time.monotonic)
    agent: Client | None = None
    relay: SessionRelay | None = None
    t0: float | None = None
    ended: bool = False
    pending: set[asyncio.Task[Any]] = field(default_factory=set)
    #: Held while the workflow or its evidence changes: one change at a time per session.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    evidence_seq: int = 0
    unchained: list[Unchained] = field(default_factory=list)
    #: Documents acknowledged so far in the current step: id -> evidence reference.
    acknowledged: dict[str, str] = field(default_factory=dict)
    step_entered: datetime = field(default_factory=lambda: datetime.now(UTC))
    timer: asyncio.TimerHandle | None = None
    #: Steps whose announcement has been played to the end in this part.
    announced: set[str] = field(default_factory=set)
    announcing: asyncio.Task[Any] | None = None
    announcement_error: str | None = None
    #: The customer's evidence in this session, as the agent's console lists it.
    received: list[dict[str, Any]] = field(default_factory=list)
    #: Whether the kiosk's connection dropped mid-call (the part ends interrupted).
    dropped: bool = False
    #: Set once the call has been ended and its recording part closed.
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def layout(self) -> RecordingLayout:
        """Where this part's recording lives."""
        return RecordingLayout(self.id, self.part)

    def recording_ref(self) -> RecordingRef:
        """This part as it is shipped: its layout, business type and recording start."""
        return RecordingRef.started(self.layout, self.service, self.t0)

    @property
    def language(self) -> str:
        """The customer's language: every text both parties see is in it."""
        return self.kiosk.language

    @property
    def step(self) -> Step:
        """The current step."""
        return self.flow.step(self.state)

    @property
    def recording(self) -> bool:
        """Whether this part's recording has started (and the call not ended)."""
        return self.t0 is not None and not self.ended

    def party_of(self, client: Client) -> str:
        """``kiosk`` or ``agent``: which end of this call ``client`` is."""
        return "kiosk" if client is self.kiosk else "agent"

    def offset_ms(self) -> int | None:
        """Milliseconds since this part's recording started, if it has."""
        return None if self.t0 is None else round((time.time() - self.t0) * 1000)

    def queue_entry(self, now: float) -> dict[str, Any]:
        """How agents see this session in the queue."""
        return {
            "session_id": self.id,
            "service": self.service,
            "branch": self.kiosk.branch,
            "kiosk": self.kiosk.name,
            "waited_s": round(now - self.queued_at, 1),
        }

    def parties(self) -> list[Client]:
        """The kiosk and, once matched, the agent."""
        return [self.kiosk] if self.agent is None else [self.kiosk, self.agent]
