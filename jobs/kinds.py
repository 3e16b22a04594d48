"""What a post-call job is: a kind of work on one closed recording part, and its outcome.

A job names its part, not its files or its facts: whoever runs it (this process or a
``dualrec worker`` on another machine) reads them from the shared recordings folder and
the database, and finds there whether the work is done already. Its key is made from
kind, session and part alone, so the same part's job is queued once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from common import RecordingLayout
from storage.shipments import RecordingRef

from .errors import JobError


class JobKind(enum.StrEnum):
    """The kinds of post-call work."""

    #: Make the part's composite, chain it and sign the manifest again (media.archive).
    COMPOSITE = "composite"
    #: Ship the closed part (archive, composite, inspection) to object storage, then seal it.
    SHIP = "ship"
    #: Inspect the composed part, chain its report and sign the manifest again
    #: (inspection.inspect_part); it comes before shipping, which seals the part.
    INSPECT = "inspect_part"


class JobOutcome(enum.StrEnum):
    """How a run of a job ended."""

    DONE = "done"
    #: The work was found done (by an earlier run, or another worker): nothing redone.
    ALREADY_DONE = "already_done"
    #: Nothing to do for this part here (no recording folder, no object storage).
    SKIPPED = "skipped"
    #: The run raised (in-process; a durable queue tries the job again instead).
    FAILED = "failed"


@dataclass(frozen=True)
class PartJob:
    """One kind of work on one closed recording part."""

    kind: JobKind
    session_id: str
    part: int
    business_type: str
    recorded_at: datetime

    def __post_init__(self) -> None:
        if self.part < 1 or not self.session_id or self.recorded_at.tzinfo is None:
            raise JobError(f"not a valid job: {self!r}")

    @property
    def key(self) -> str:
        """The job's identity in the queue: the same part's work is queued once."""
        return f"{self.kind.value}:{self.session_id}:{self.part}"

    @property
    def ref(self) -> RecordingRef:
        """The part as it is shipped."""
        return RecordingRef(
            RecordingLayout(self.session_id, self.part), self.business_type, self.recorded_at
        )

    @classmethod
    def of(cls, kind: JobKind, ref: RecordingRef) -> Self:
        """The ``kind`` job of the part ``ref``."""
        return cls(kind, ref.session_id, ref.layout.part, ref.business_type, ref.recorded_at)

    def then(self, kind: JobKind) -> PartJob:
        """The same part's job of another kind (the work that follows this one)."""
        return PartJob(kind, self.session_id, self.part, self.business_type, self.recorded_at)

    def to_kwargs(self) -> dict[str, Any]:
        """The job as JSON-able arguments (the queue stores them)."""
        return {
            "session_id": self.session_id,
            "part": self.part,
            "business_type": self.business_type,
            "recorded_at": self.recorded_at.isoformat(),
        }

    @classmethod
    def from_kwargs(cls, kind: JobKind, data: dict[str, Any]) -> Self:
        """The job from the arguments :meth:`to_kwargs` gave; JobError when malformed."""
        try:
            return cls(
                kind,
                str(data["session_id"]),
                int(data["part"]),
                str(data["business_type"]),
                datetime.fromisoformat(str(data["recorded_at"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise JobError(f"malformed {kind.value} job: {exc}") from exc
