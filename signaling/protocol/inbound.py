"""Messages a kiosk or an agent sends to the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from common import EvidenceKind, Language, Role, checked_reason
from common import Presence as PresenceState

from .wire import MAX_MESSAGE_BYTES, Message, require_text, type_name

#: Evidence the kiosk supplies itself, with the kind of value each takes.
KIOSK_EVIDENCE: dict[str, type] = {
    EvidenceKind.TICK_CONFIRMATION: bool,
    EvidenceKind.CONSENT: bool,
    EvidenceKind.DOCUMENT_ACKNOWLEDGED: str,
    EvidenceKind.QUESTIONNAIRE_ANSWERS: dict,
    EvidenceKind.SIGNATURE_IMAGE: str,
}


_LANGUAGES = tuple(language.value for language in Language)
_PRESENCE = tuple(state.value for state in PresenceState)


def _keep_reason(message: Message, reason: str) -> None:
    """Bound a typed reason (ReasonTooLong is a ValueError) and mask the ID numbers in it,
    before anything logs, echoes or stores it."""
    # The message is frozen; this is its own validation, before anyone holds it.
    object.__setattr__(message, "reason", checked_reason("reason", reason))


def _check_language(language: str) -> None:
    if language not in _LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(_LANGUAGES)}")


@dataclass(frozen=True)
class Join(Message):
    """A kiosk device or an agent identifies itself with its token.

    A signed-in page leaves the token out: its socket carries the sign-in cookie.
    """

    type: ClassVar[str] = "join"
    role: str
    token: str | None = None

    def __post_init__(self) -> None:
        if self.role not in Role.callers():
            callers = ", ".join(role for role in Role if role in Role.callers())
            raise ValueError(f'role must be one of {callers}, not "{self.role}"')
        if self.token is not None:
            require_text("token", self.token, 200)


@dataclass(frozen=True)
class RequestService(Message):
    """A kiosk asks for a service and joins the queue."""

    type: ClassVar[str] = "request_service"
    service: str
    language: str = "zh-CN"

    def __post_init__(self) -> None:
        require_text("service", self.service, 50)
        _check_language(self.language)


@dataclass(frozen=True)
class Accept(Message):
    """An agent takes a waiting customer: the given session, or the head of the queue."""

    type: ClassVar[str] = "accept"
    #: The ``offer_id`` of a ``queue`` entry; None takes the head of the queue.
    offer_id: str | None = None

    def __post_init__(self) -> None:
        if self.offer_id is not None:
            require_text("offer_id", self.offer_id, 64)


@dataclass(frozen=True)
class Offer(Message):
    """An SDP offer for the peer connection with the server's media relay."""

    type: ClassVar[str] = "offer"
    sdp: str

    def __post_init__(self) -> None:
        if not self.sdp.startswith("v=0"):
            raise ValueError('"sdp" is not a session description (must start with "v=0")')


@dataclass(frozen=True)
class IceCandidate(Message):
    """A trickled ICE candidate (an empty candidate ends the trickle)."""

    type: ClassVar[str] = "ice_candidate"
    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


@dataclass(frozen=True)
class WorkflowEventMessage(Message):
    """The agent advances the session's business workflow."""

    type: ClassVar[str] = "workflow_event"
    event: str
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_text("event", self.event, 50)
        if self.reason is not None:
            _keep_reason(self, self.reason)


@dataclass(frozen=True)
class EvidenceMessage(Message):
    """The kiosk supplies evidence for the current step (a tick, an answer, a signature)."""

    type: ClassVar[str] = "evidence"
    kind: str
    value: Any
    step: str | None = None

    def __post_init__(self) -> None:
        expected = KIOSK_EVIDENCE.get(self.kind)
        if expected is None:
            kinds = ", ".join(sorted(KIOSK_EVIDENCE))
            raise ValueError(f'kind must be one of {kinds}, not "{self.kind[:40]}"')
        if not isinstance(self.value, expected):
            raise ValueError(f'the value of "{self.kind}" must be {type_name(expected)}')
        if expected is bool and self.value is not True:
            raise ValueError(f'"{self.kind}" can only be given as true')
        if isinstance(self.value, str):
            require_text("value", self.value, MAX_MESSAGE_BYTES)
        if isinstance(self.value, dict) and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.value.items()
        ):
            raise ValueError(f'"{self.kind}" must map question ids to option ids (strings)')


@dataclass(frozen=True)
class Resume(Message):
    """A kiosk reconnects to its own session cut by a server restart."""

    type: ClassVar[str] = "resume"
    session_id: str
    language: str = "zh-CN"

    def __post_init__(self) -> None:
        require_text("session_id", self.session_id, 64)
        _check_language(self.language)


@dataclass(frozen=True)
class Presence(Message):
    """An agent's presence: set by the agent, announced back by the server."""

    type: ClassVar[str] = "presence"
    state: str

    def __post_init__(self) -> None:
        if self.state not in _PRESENCE:
            states = ", ".join(_PRESENCE)
            raise ValueError(f'state must be one of {states}, not "{self.state[:40]}"')


@dataclass(frozen=True)
class PushDocument(Message):
    """The agent shows one of the current step's documents on the kiosk's screen."""

    type: ClassVar[str] = "push_document"
    document_id: str

    def __post_init__(self) -> None:
        require_text("document_id", self.document_id, 64)


@dataclass(frozen=True)
class Hangup(Message):
    """Ends the call (or leaves the queue)."""

    type: ClassVar[str] = "hangup"
    reason: str = "hangup"

    def __post_init__(self) -> None:
        _keep_reason(self, self.reason)


CLIENT_MESSAGES: tuple[type[Message], ...] = (
    Join,
    RequestService,
    Accept,
    Offer,
    IceCandidate,
    WorkflowEventMessage,
    EvidenceMessage,
    Resume,
    Presence,
    PushDocument,
    Hangup,
)
