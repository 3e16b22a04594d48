"""What the shipper keeps per recording part: its reference, its outstanding files, its seal.

A ``RecordingRef`` is how the rest of the server names a part to ship (its layout, the
business type whose retention applies, when it was recorded); the shipper keeps one
``PartState`` per part with work outstanding, and one ``Shipment`` per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from common import RecordingLayout

from .objectstore import StoredObject


@dataclass(frozen=True)
class RecordingRef:
    """One recording part as its objects are keyed and locked: where, what business, when."""

    layout: RecordingLayout
    business_type: str
    recorded_at: datetime

    @property
    def session_id(self) -> str:
        """The session the part belongs to."""
        return self.layout.session_id

    @classmethod
    def started(cls, layout: RecordingLayout, business_type: str, t0: float | None) -> RecordingRef:
        """A part whose recording started at Unix time ``t0`` (now, if it has not)."""
        at = datetime.now(UTC) if t0 is None else datetime.fromtimestamp(t0, UTC)
        return cls(layout, business_type, at)


@dataclass(eq=False)
class Shipment:
    """One file to ship: upload it, then (once its part is sealed) delete the local copy."""

    name: str
    part: PartState
    ref: RecordingRef
    #: The recorder's SHA-256, or None: hashed just before the upload (archive files).
    sha256: str | None
    #: After a restart the object may be stored already: confirm before uploading.
    check_first: bool = False
    #: Set once stored: only the local copy is left to delete.
    stored: StoredObject | None = None
    tries: int = 0
    running: bool = False
    #: Asked for again while its upload ran (a manifest signed again): ship once more.
    again: tuple[RecordingRef, str | None] | None = None

    @property
    def key(self) -> str:
        """The object's key (and the file's path under the recordings root)."""
        return self.part.layout.path_of(self.name)


@dataclass(eq=False)
class PartState:
    """What the shipper knows of one recording part."""

    layout: RecordingLayout
    #: Outstanding files by name: queued, running or waiting to be tried again.
    jobs: dict[str, Shipment] = field(default_factory=dict)
    #: Names shipped (or queued) while the part was open.
    seen: set[str] = field(default_factory=set)
    #: Files stored while the part was open: their local copies go when it is sealed.
    stored_open: dict[str, Shipment] = field(default_factory=dict)
    sealed: bool = False
    #: Another process seals the part (a worker's ship job): nothing is kept for it here.
    handed_over: bool = False
    #: The latest retain-until date recorded for the session from this part's objects.
    retained: datetime | None = None

    @property
    def idle(self) -> bool:
        """Sealed or handed over, with nothing left to do: the shipper may forget it."""
        return (self.sealed or self.handed_over) and not self.jobs and not self.stored_open


@dataclass
class ShipperStats:
    """What the shipper has done since the server started (for /healthz and logs)."""

    uploaded: int = 0
    deleted_local: int = 0
    retried: int = 0
    failed: int = 0
    last_error: str | None = None
