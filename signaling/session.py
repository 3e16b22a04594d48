"""The live state of connected clients and of the calls between them.

A ``LiveSession`` is one recording part of a customer's session. Where its call stands is
its ``call`` (a ``CallLifecycle`` state machine); the business step is ``state`` with the
``context`` gathered so far; what the step is doing (timer, announcement) is ``step_run``
and the customer's evidence in this part is ``evidence``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common import BackgroundTasks, Language, Party, Presence, RecordingLayout, Role
from media import SessionRelay
from storage.shipping import RecordingRef
from workflow import Flow, FlowContext, Step

from .call import CallLifecycle
from .protocol import Message
from .webauth import WebUser


@dataclass
class RemoteCall:
    """The call a client is in when another node owns it (several nodes only)."""

    session_id: str
    #: The owner node; None once it died (an agent then waits for the customer).
    owner: str | None
    #: Whether the owner has matched the client (an agent's claim is first pending).
    matched: bool = False
    #: Whether the agent was told that the customer dropped out (and waits for them).
    told_dropped: bool = False


@dataclass(eq=False)
class Client:
    """One connected kiosk or agent."""

    send: Callable[[Message], Awaitable[None]]
    #: This connection's id: how peer nodes address it (never a secret).
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    role: Role | None = None
    name: str = ""
    branch: str | None = None
    language: Language = Language.ZH_CN
    session: LiveSession | None = None
    #: Who signed in to the page that opened this socket (None for token clients).
    web_user: WebUser | None = None
    #: An agent's presence and since when (monotonic).
    presence: Presence = Presence.AVAILABLE
    presence_since: float = field(default_factory=time.monotonic)
    #: The call this client is in when another node owns it.
    remote: RemoteCall | None = None
    #: For a party whose socket is on another node: that node (None: the socket is here).
    home: str | None = None

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


@dataclass
class EvidenceLedger:
    """The evidence of one recording part: numbering, files awaiting the chain, the list."""

    #: The sequence number of the last evidence stored in the session (all parts).
    seq: int = 0
    unchained: list[Unchained] = field(default_factory=list)
    #: The customer's evidence in this part, as the agent's console lists it.
    received: list[dict[str, Any]] = field(default_factory=list)
    #: Documents acknowledged so far in the current step: id -> evidence reference.
    acknowledged: dict[str, str] = field(default_factory=dict)


@dataclass
class StepRun:
    """What the current workflow step is doing: since when, its timeout, its announcement."""

    entered: datetime = field(default_factory=lambda: datetime.now(UTC))
    timer: asyncio.TimerHandle | None = None
    #: Steps whose announcement has been played to the end in this part.
    announced: set[str] = field(default_factory=set)
    announcing: asyncio.Future[Any] | None = None
    announcement_error: str | None = None

    def restart(self) -> None:
        """A new step begins now: its timer is re-armed by the caller."""
        self.entered = datetime.now(UTC)
        self.cancel_timer()

    def cancel_timer(self) -> None:
        """Disarm the step's timeout."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(eq=False)
class LiveSession:
    """A customer's call, from queueing to hang-up (or one part of it, after a restart)."""

    id: str
    service: str
    flow: Flow
    kiosk: Client
    #: The workflow step.
    state: str
    context: FlowContext = field(default_factory=FlowContext)
    #: The recording part this call makes: 1, then 2, 3... after each resumption.
    part: int = 1
    evidence: EvidenceLedger = field(default_factory=EvidenceLedger)
    queued_at: float = field(default_factory=time.monotonic)
    #: Its place in the queue of several nodes, kept when it moves to another node.
    queue_score: float | None = None
    #: What agents name this session by while it waits (see ``offer``).
    offer_id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    agent: Client | None = None
    relay: SessionRelay | None = None
    #: Work started for this call (segment rows, events, announcements): awaited at the end.
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    #: Held while the workflow or its evidence changes: one change at a time per session.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    step_run: StepRun = field(default_factory=StepRun)
    call: CallLifecycle = field(init=False)

    def __post_init__(self) -> None:
        self.call = CallLifecycle(self.id)

    @property
    def layout(self) -> RecordingLayout:
        """Where this part's recording lives."""
        return RecordingLayout(self.id, self.part)

    def recording_ref(self) -> RecordingRef:
        """This part as it is shipped: its layout, business type and recording start."""
        return RecordingRef.started(self.layout, self.service, self.t0)

    @property
    def t0(self) -> float | None:
        """The Unix time this part's recording started, if it has."""
        return self.call.t0

    @property
    def ended(self) -> bool:
        """Whether the call is closing or closed."""
        return not self.call.open

    @property
    def recording(self) -> bool:
        """Whether this part's recording is running."""
        return self.call.recording

    @property
    def language(self) -> Language:
        """The customer's language: every text both parties see is in it."""
        return self.kiosk.language

    @property
    def step(self) -> Step:
        """The current step."""
        return self.flow.step(self.state)

    def party_of(self, client: Client) -> Party:
        """Which end of this call ``client`` is."""
        return Party.KIOSK if client is self.kiosk else Party.AGENT

    def offset_ms(self) -> int | None:
        """Milliseconds since this part's recording started, if it has."""
        t0 = self.call.t0
        return None if t0 is None else round((time.time() - t0) * 1000)

    def offer(self, now: float) -> dict[str, Any]:
        """How available agents see this session in the queue: only what an offer needs.

        The offer id is opaque and new each time the session is queued: agents never
        learn a session's id or its kiosk before they accept it.
        """
        return {
            "offer_id": self.offer_id,
            "service": self.service,
            "branch": self.kiosk.branch,
            "waited_s": round(now - self.queued_at, 1),
        }

    def queue_entry(self, now: float) -> dict[str, Any]:
        """How supervisors see this session in the queue."""
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
