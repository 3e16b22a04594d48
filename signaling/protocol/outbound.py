"""Messages the server sends to kiosks and agents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .wire import Message


@dataclass(frozen=True)
class Joined(Message):
    """The server accepted a join."""

    type: ClassVar[str] = "joined"
    role: str
    name: str
    branch: str | None = None
    #: The STUN/TURN servers for this client's peer connections, TURN with credentials of
    #: its own (``RTCIceServer`` dictionaries; see signaling.ice).
    ice_servers: list[Any] = field(default_factory=list)
    #: ``all``, or ``relay``: the client's media goes through the TURN server only.
    ice_transport_policy: str = "all"


@dataclass(frozen=True)
class QueuePosition(Message):
    """Where a waiting kiosk stands in the queue (1 = next)."""

    type: ClassVar[str] = "queue_position"
    session_id: str
    position: int
    waiting: int
    estimated_wait_s: int | None = None


@dataclass(frozen=True)
class QueueState(Message):
    """The waiting customers, pushed to agents whenever the queue changes."""

    type: ClassVar[str] = "queue"
    waiting: list[Any]


@dataclass(frozen=True)
class QueueChanges(Message):
    """What changed in the queue since the agent's last ``queue`` or ``queue_changes``.

    An available agent is sent the whole queue once (``queue``), then only this: the
    offers ``removed`` (their ids) and those ``added``, each with its ``position`` (1 =
    head) in the queue after the change, in ascending order. Applied in that order
    (remove, then insert each at its position) they turn the agent's list into the
    queue as it now stands, ``length`` offers long.
    """

    type: ClassVar[str] = "queue_changes"
    added: list[Any]
    removed: list[Any]
    length: int

    def __post_init__(self) -> None:
        if not all(isinstance(offer_id, str) for offer_id in self.removed):
            raise ValueError("removed must hold offer ids (strings)")
        last = 0
        for offer in self.added:
            position = offer.get("position") if isinstance(offer, dict) else None
            if not isinstance(offer, dict) or not isinstance(offer.get("offer_id"), str):
                raise ValueError("each added offer must be an object with an offer_id")
            if not isinstance(position, int) or isinstance(position, bool) or position <= last:
                raise ValueError("added offers must have ascending positions from 1")
            last = position
        if last > self.length or self.length < 0:
            raise ValueError(f"an added position ({last}) is past the length ({self.length})")


@dataclass(frozen=True)
class Matched(Message):
    """A kiosk and an agent are paired; both now send their offer."""

    type: ClassVar[str] = "matched"
    session_id: str
    service: str
    flow: str
    state: str
    peer: str
    #: Fresh STUN/TURN servers for this call's peer connection (as in ``joined``, whose
    #: TURN credentials may have expired while the client waited); empty: keep those.
    ice_servers: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Answer(Message):
    """The relay's SDP answer."""

    type: ClassVar[str] = "answer"
    sdp: str


@dataclass(frozen=True)
class WorkflowState(Message):
    """The session's workflow step and what it still needs (sent to both parties).

    Sent on every transition (``event`` names it) and whenever evidence arrives or an
    announcement ends (``event`` is null). ``missing`` lists the evidence still needed
    before the step's forward event is accepted ("tts_played" while the step's
    announcement has not been played to the end).
    """

    type: ClassVar[str] = "workflow_state"
    session_id: str
    flow: str
    state: str
    event: str | None
    offset_ms: int | None
    terminal: bool
    title: str
    prompt: str
    events: list[Any]
    evidence: list[Any] = field(default_factory=list)
    missing: list[Any] = field(default_factory=list)
    documents: list[Any] = field(default_factory=list)
    questions: list[Any] = field(default_factory=list)
    confirmation_phrase: str | None = None
    announcement: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    timeout_s: int | None = None
    #: For the agent: the data the step collects, ``{name, required}``.
    fields: list[Any] = field(default_factory=list)
    #: For the agent: the customer's evidence so far, ``{seq, kind, step, offset_ms, value, url}``.
    received: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Document(Message):
    """A document pushed to the kiosk's screen (and, as a receipt, to the agent)."""

    type: ClassVar[str] = "document"
    session_id: str
    id: str
    title: str
    body: str


@dataclass(frozen=True)
class PeerReconnecting(Message):
    """The other party's connection dropped: the call waits for it to come back."""

    type: ClassVar[str] = "peer_reconnecting"
    session_id: str
    party: str


#: The live checks of the customer's media (media.live_watch.LiveFlag).
LIVE_FLAGS = ("customer_absent", "second_face", "customer_no_sound")


@dataclass(frozen=True)
class LiveFlagMessage(Message):
    """A live check of the customer's media raised or cleared, for the agent's console.

    ``offset_ms`` is when it was seen, from the start of the recording part.
    """

    type: ClassVar[str] = "live_flag"
    session_id: str
    flag: str
    raised: bool
    offset_ms: int

    def __post_init__(self) -> None:
        if self.flag not in LIVE_FLAGS:
            raise ValueError(f"flag must be one of {', '.join(LIVE_FLAGS)}")
        if self.offset_ms < 0:
            raise ValueError("offset_ms must not be negative")


@dataclass(frozen=True)
class SessionEnded(Message):
    """The call is over; the recording is being closed."""

    type: ClassVar[str] = "session_ended"
    session_id: str
    reason: str
    by: str


@dataclass(frozen=True)
class Error(Message):
    """Something the client sent was refused; ``ref`` names the offending message type."""

    type: ClassVar[str] = "error"
    code: str
    message: str
    ref: str | None = None
