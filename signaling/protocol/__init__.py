"""The signalling protocol: typed, validated wire messages (see docs/protocol.md).

``wire`` holds the message base class and the parser; ``inbound`` the messages kiosks and
agents send; ``outbound`` those the server sends.
"""

from .inbound import (
    CLIENT_MESSAGES,
    KIOSK_EVIDENCE,
    Accept,
    EvidenceMessage,
    Hangup,
    IceCandidate,
    Join,
    Offer,
    Presence,
    PushDocument,
    RequestService,
    Resume,
    WorkflowEventMessage,
)
from .outbound import (
    Answer,
    Document,
    Error,
    Joined,
    LiveFlagMessage,
    Matched,
    PeerReconnecting,
    QueueChanges,
    QueuePosition,
    QueueState,
    SessionEnded,
    WorkflowState,
)
from .wire import MAX_MESSAGE_BYTES, MESSAGE_TYPES, Message, parse_message

__all__ = [
    "CLIENT_MESSAGES",
    "KIOSK_EVIDENCE",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_TYPES",
    "Accept",
    "Answer",
    "Document",
    "Error",
    "EvidenceMessage",
    "Hangup",
    "IceCandidate",
    "Join",
    "Joined",
    "LiveFlagMessage",
    "Matched",
    "Message",
    "Offer",
    "PeerReconnecting",
    "Presence",
    "PushDocument",
    "QueueChanges",
    "QueuePosition",
    "QueueState",
    "RequestService",
    "Resume",
    "SessionEnded",
    "WorkflowEventMessage",
    "WorkflowState",
    "parse_message",
]
