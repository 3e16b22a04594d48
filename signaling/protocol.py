"""The signalling protocol: typed, validated wire messages (see docs/protocol.md)."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

from .errors import MessageTooLarge, ProtocolError

#: Largest text frame accepted; larger ones are answered with an error.
MAX_MESSAGE_BYTES = 256 * 1024

ROLES = ("kiosk", "agent")
LANGUAGES = ("zh-CN", "en")
#: An agent's presence; ``busy`` is set by the server only (in a call).
PRESENCE_STATES = ("available", "busy", "after_call", "away")
#: Evidence the kiosk supplies itself, with the kind of value each takes.
KIOSK_EVIDENCE = {
    "tick_confirmation": bool,
    "consent": bool,
    "document_acknowledged": str,
    "questionnaire_answers": dict,
    "signature_image": str,
}

_MESSAGES: dict[str, type[Message]] = {}


def _check_type(name: str, value: Any, annotation: Any, message_type: str) -> None:
    """Raise ProtocolError unless ``value`` fits the field's annotation."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return
        annotation = next(a for a in options if a is not type(None))
        origin = get_origin(annotation)
    expected = origin or annotation
    if expected is Any:
        return
    if expected is int and isinstance(value, bool):
        ok = False
    elif expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif expected in (dict, Mapping):
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ProtocolError(
            f'field "{name}" of "{message_type}" must be {_type_name(expected)}, '
            f"not {_type_name(type(value))}",
            message_type=message_type,
        )


def _type_name(t: Any) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        dict: "an object",
        Mapping: "an object",
        bool: "a boolean",
        list: "a list",
        type(None): "null",
    }
    return names.get(t, getattr(t, "__name__", str(t)))


@dataclass(frozen=True)
class Message:
    """Base of all wire messages; subclasses set ``type``."""

    type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type:
            _MESSAGES[cls.type] = cls

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Build the message from decoded JSON, validating every field."""
        hints = get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"type"})
        if unknown:
            raise ProtocolError(
                f'unknown field "{unknown[0]}" in "{cls.type}"', message_type=cls.type
            )
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                has_default = (
                    f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING
                )
                if not has_default:
                    raise ProtocolError(
                        f'missing field "{f.name}" in "{cls.type}"', message_type=cls.type
                    )
                continue
            _check_type(f.name, data[f.name], hints[f.name], cls.type)
            values[f.name] = data[f.name]
        try:
            return cls(**values)
        except ValueError as exc:
            raise ProtocolError(f'invalid "{cls.type}": {exc}', message_type=cls.type) from exc

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON-ready dict, ``type`` first."""
        return {"type": self.type, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        """The message as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _require_text(name: str, value: str, max_len: int) -> None:
    if not value.strip():
        raise ValueError(f'"{name}" must not be empty')
    if len(value) > max_len:
        raise ValueError(f'"{name}" is longer than {max_len} characters')


# -- client to server ------------------------------------------------------------------


@dataclass(frozen=True)
class Join(Message):
    """A kiosk device or an agent identifies itself with its token.

    A signed-in page leaves the token out: its socket carries the sign-in cookie.
    """

    type: ClassVar[str] = "join"
    role: str
    token: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f'role must be one of {", ".join(ROLES)}, not "{self.role}"')
        if self.token is not None:
            _require_text("token", self.token, 200)


@dataclass(frozen=True)
class RequestService(Message):
    """A kiosk asks for a service and joins the queue."""

    type: ClassVar[str] = "request_service"
    service: str
    language: str = "zh-CN"

    def __post_init__(self) -> None:
        _require_text("service", self.service, 50)
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")


@dataclass(frozen=True)
class Accept(Message):
    """An agent takes a waiting customer: the given session, or the head of the queue."""

    type: ClassVar[str] = "accept"
    session_id: str | None = None


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
        _require_text("event", self.event, 50)


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
            raise ValueError(f'the value of "{self.kind}" must be {_type_name(expected)}')
        if expected is bool and self.value is not True:
            raise ValueError(f'"{self.kind}" can only be given as true')
        if isinstance(self.value, str):
            _require_text("value", self.value, MAX_MESSAGE_BYTES)
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
        _require_text("session_id", self.session_id, 64)
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")


@dataclass(frozen=True)
class Presence(Message):
    """An agent's presence: set by the agent, announced back by the server."""

    type: ClassVar[str] = "presence"
    state: str

    def __post_init__(self) -> None:
        if self.state not in PRESENCE_STATES:
            states = ", ".join(PRESENCE_STATES)
            raise ValueError(f'state must be one of {states}, not "{self.state[:40]}"')


@dataclass(frozen=True)
class PushDocument(Message):
    """The agent shows one of the current step's documents on the kiosk's screen."""

    type: ClassVar[str] = "push_document"
    document_id: str

    def __post_init__(self) -> None:
        _require_text("document_id", self.document_id, 64)


@dataclass(frozen=True)
class Hangup(Message):
    """Ends the call (or leaves the queue)."""

    type: ClassVar[str] = "hangup"
    reason: str = "hangup"


# -- server to client ------------------------------------------------------------------


@dataclass(frozen=True)
class Joined(Message):
    """The server accepted a join."""

    type: ClassVar[str] = "joined"
    role: str
    name: str
    branch: str | None = None


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
class Matched(Message):
    """A kiosk and an agent are paired; both now send their offer."""

    type: ClassVar[str] = "matched"
    session_id: str
    service: str
    flow: str
    state: str
    peer: str


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


def parse_message(text: str | bytes) -> Message:
    """Decode one wire message, raising ProtocolError that names what is wrong."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"message of {len(text)} bytes is larger than the limit of {MAX_MESSAGE_BYTES}"
        )
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"message is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError('message has no "type" string')
    cls = _MESSAGES.get(kind)
    if cls is None:
        raise ProtocolError(f'unknown message type "{kind[:50]}"', message_type=kind[:50])
    return cls.parse(data)


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
