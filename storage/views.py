"""Frozen views of the database rows, handed to callers instead of ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from common import MediaKind, Party, Role


class SessionStatus(StrEnum):
    """Lifecycle of a call session; waiting and active sessions are open.

    A session whose call was cut by a server restart is ``interrupted``: it keeps its
    workflow step and context, and its kiosk may resume it (a new recording part).
    """

    WAITING = "waiting"
    ACTIVE = "active"
    INTERRUPTED = "interrupted"
    ENDED = "ended"
    FAILED = "failed"


class ReviewStatus(StrEnum):
    """A compliance review's verdict; a session's review status is its latest verdict."""

    UNREVIEWED = "unreviewed"
    PASS = "pass"
    FAIL = "fail"
    FOLLOW_UP = "follow_up"


@dataclass(frozen=True, slots=True)
class CredentialView:
    """A credential as returned by the database (never the token or its hash)."""

    id: int
    role: Role
    name: str
    branch: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionView:
    """A call session's own columns."""

    id: str
    service: str
    branch: str | None
    kiosk_name: str
    agent_name: str | None
    status: SessionStatus
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    flow: str
    workflow_state: str
    recording_dir: str | None
    workflow_context: dict[str, Any] = field(default_factory=dict)
    recording_parts: int = 0
    product_code: str | None = None
    customer_id_hmac: str | None = None
    customer_id_last4: str | None = None
    outcome: str | None = None
    review_status: ReviewStatus = ReviewStatus.UNREVIEWED
    legal_hold: bool = False
    retain_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordingFileView:
    """A recording segment file; paths are relative to the recordings root."""

    id: int
    session_id: str
    party: Party
    kind: MediaKind
    seq: int
    path: str
    codec: str
    bytes: int
    sha256: str | None
    frames: int
    start_ms: int
    end_ms: int
    closed: bool
    part: int = 1


@dataclass(frozen=True, slots=True)
class WorkflowEventView:
    """A recorded workflow transition; ``offset_ms`` is into recording part ``part``."""

    id: int
    session_id: str
    seq: int
    event: str
    source: str
    target: str
    actor: str
    at: datetime
    offset_ms: int | None
    reason: str | None
    data: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    part: int | None = None

    def record(self) -> dict[str, Any]:
        """The transition as manifests and evidence packages list it (no data or context)."""
        return {
            "seq": self.seq,
            "event": self.event,
            "from": self.source,
            "to": self.target,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "offset_ms": self.offset_ms,
            "part": self.part,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class EvidenceItemView:
    """One piece of evidence: its file in recording part ``part`` and the file's SHA-256."""

    id: int
    session_id: str
    seq: int
    part: int
    step: str
    kind: str
    file: str | None
    sha256: str | None
    offset_ms: int | None
    at: datetime
    provided_by: str


@dataclass(frozen=True, slots=True)
class ReviewView:
    """An auditor's verdict on a session, with reasons, reviewer and time; or, with a
    ``flag``, on one flagged check of a part (``fail`` confirms it, ``pass`` overrules it)."""

    id: int
    session_id: str
    verdict: ReviewStatus
    reasons: str
    reviewer: str
    at: datetime
    part: int | None = None
    flag: str | None = None

    @property
    def decision(self) -> str | None:
        """``confirmed`` or ``overruled`` for a flag's review; None for a session's."""
        if self.flag is None:
            return None
        return "overruled" if self.verdict == ReviewStatus.PASS else "confirmed"


@dataclass(frozen=True, slots=True)
class SessionDetail:
    """A session with its recording files, workflow events and evidence, in order."""

    session: SessionView
    files: tuple[RecordingFileView, ...]
    events: tuple[WorkflowEventView, ...]
    evidence: tuple[EvidenceItemView, ...] = ()
    reviews: tuple[ReviewView, ...] = ()

    def part_files(self, part: int) -> tuple[RecordingFileView, ...]:
        """The segment files of one recording part."""
        return tuple(f for f in self.files if f.part == part)
