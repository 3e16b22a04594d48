"""SQLAlchemy models of the audit database and the frozen views handed to callers."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    Select,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from common import MediaKind, Party, Role

from .errors import StorageError
from .personal import masked_context
from .views import (
    CredentialView,
    EvidenceItemView,
    RecordingFileView,
    ReviewStatus,
    ReviewView,
    SessionDetail,
    SessionStatus,
    SessionView,
    WorkflowEventView,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_View = TypeVar("_View", bound="DataclassInstance")


OPEN_STATUSES = (SessionStatus.WAITING, SessionStatus.ACTIVE)
#: A review of one flag names its part and gives pass (overruled) or fail (confirmed).
FLAG_REVIEW = "flag IS NULL OR (part IS NOT NULL AND verdict IN ('pass', 'fail'))"
_E = TypeVar("_E", bound=StrEnum)


def parse_enum(enum: type[_E], value: str, what: str) -> _E:
    """Return ``enum(value)``, or raise StorageError listing the allowed values."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise StorageError(f"invalid {what} {value!r}; expected one of {allowed}") from None


def _in(column: str, enum: type[StrEnum]) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"


def _enum(enum: type[StrEnum], length: int) -> Enum:
    # A VARCHAR holding the member's value (not its name), checked by the
    # table's named CHECK constraint rather than a native PostgreSQL ENUM type.
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


def _snapshot(view: type[_View], row: Base) -> _View:
    """Copy the view's fields off an ORM row, so callers never touch the session."""
    return view(**{f.name: _outward(getattr(row, f.name)) for f in fields(view)})


def _outward(value: Any) -> Any:
    # A row not reloaded since the flush still holds the caller's datetime,
    # perhaps in another zone: views always carry UTC, as rows read back do.
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    # Contexts and event data: ID numbers only masked (storage.personal opens them).
    if isinstance(value, dict):
        return masked_context(value)
    return value


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetime stored as UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; SQLite stores the naive UTC wall time."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass a tz-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the backend gave back."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the dualrec tables, with stable constraint names for migrations."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Credential(Base):
    """A bearer token (stored only as its SHA-256) for a kiosk or a staff member."""

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("role", "name"),
        CheckConstraint(_in("role", Role), name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, 16))
    name: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Staff sign in to the pages with a password (argon2id hash); kiosks never have one.
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)

    def view(self) -> CredentialView:
        """Detached snapshot of this row."""
        return _snapshot(CredentialView, self)


class WebSession(Base):
    """A signed-in browser: a member of staff's console, or an enrolled kiosk's page.

    The browser holds a random cookie value; only its SHA-256 is stored, so a copy of
    the database signs nobody in. Expiry slides with use up to an absolute maximum
    (``signaling.accounts.DatabaseWebSessions``); revoking the credential deletes its rows.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cookie_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    credential_id: Mapped[int] = mapped_column(
        ForeignKey("credentials.id", ondelete="CASCADE"), index=True
    )
    #: A kiosk device's session (the kiosk cookie), not a member of staff's.
    kiosk: Mapped[bool] = mapped_column(Boolean)
    # Kept as is, not hashed: every page renders it into its forms, and without the
    # cookie (stored hashed) it is worth nothing.
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class CallSession(Base):
    """One remote banking call between a kiosk and an agent."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint(_in("status", SessionStatus), name="status"),
        CheckConstraint(_in("review_status", ReviewStatus), name="review_status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service: Mapped[str] = mapped_column(String(50))
    branch: Mapped[str | None] = mapped_column(String(100))
    kiosk_name: Mapped[str] = mapped_column(String(100))
    agent_name: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[SessionStatus] = mapped_column(_enum(SessionStatus, 16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(500))
    flow: Mapped[str] = mapped_column(String(50))
    workflow_state: Mapped[str] = mapped_column(String(50))
    recording_dir: Mapped[str | None] = mapped_column(String(300))
    # The workflow's facts and evidence references, stored with every change so that a
    # session cut by a restart resumes where it was; the ID number in it only sealed.
    workflow_context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Recording parts started: 1 for an uninterrupted call, one more per resumption.
    recording_parts: Mapped[int] = mapped_column(Integer, default=0)
    # What auditors search by, filled in as the workflow learns it. The customer's ID
    # number is kept only as its keyed HMAC (exact search; the key is not in the
    # database, see storage.personal) and its last 4 characters.
    product_code: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    customer_id_hmac: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    customer_id_last4: Mapped[str | None] = mapped_column(String(4), default=None)
    #: The terminal step the workflow reached (or None while open or if cut short).
    outcome: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    review_status: Mapped[ReviewStatus] = mapped_column(
        _enum(ReviewStatus, 16), default=ReviewStatus.UNREVIEWED, index=True
    )
    legal_hold: Mapped[bool] = mapped_column(default=False)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    # lazy="raise": under asyncio an implicit lazy load would fail obscurely, so
    # callers must eager load (selectinload) what they need.
    files: Mapped[list[RecordingFile]] = relationship(
        back_populates="session",
        order_by="(RecordingFile.part, RecordingFile.party, RecordingFile.kind, RecordingFile.seq)",
        cascade="all, delete-orphan",
        lazy="raise",
    )
    events: Mapped[list[WorkflowEvent]] = relationship(
        back_populates="session",
        order_by="WorkflowEvent.seq",
        cascade="all, delete-orphan",
        lazy="raise",
    )
    evidence: Mapped[list[EvidenceItem]] = relationship(
        back_populates="session",
        order_by="EvidenceItem.seq",
        cascade="all, delete-orphan",
        lazy="raise",
    )
    reviews: Mapped[list[Review]] = relationship(
        back_populates="session",
        order_by="Review.id",
        cascade="all, delete-orphan",
        lazy="raise",
    )

    def view(self) -> SessionView:
        """Detached snapshot of this row, without files and events."""
        return _snapshot(SessionView, self)

    def detail(self) -> SessionDetail:
        """Snapshot with files, events and evidence; all must have been eager loaded."""
        return SessionDetail(
            session=self.view(),
            files=tuple(f.view() for f in self.files),
            events=tuple(e.view() for e in self.events),
            evidence=tuple(e.view() for e in self.evidence),
            reviews=tuple(r.view() for r in self.reviews),
        )


def open_sessions_query() -> Select[CallSession]:
    """Select the waiting and active sessions, oldest first."""
    return (
        select(CallSession)
        .where(CallSession.status.in_(OPEN_STATUSES))
        .order_by(CallSession.created_at, CallSession.id)
    )


class RecordingFile(Base):
    """One segment file of one track (party x kind) of a session's recording."""

    __tablename__ = "recording_files"
    __table_args__ = (
        UniqueConstraint("session_id", "part", "party", "kind", "seq"),
        CheckConstraint(_in("party", Party), name="party"),
        CheckConstraint(_in("kind", MediaKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer, default=1)
    party: Mapped[Party] = mapped_column(_enum(Party, 8))
    kind: Mapped[MediaKind] = mapped_column(_enum(MediaKind, 8))
    seq: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(300))
    codec: Mapped[str] = mapped_column(String(16))
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    frames: Mapped[int] = mapped_column(Integer)
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    closed: Mapped[bool]

    session: Mapped[CallSession] = relationship(back_populates="files", lazy="raise")

    def view(self) -> RecordingFileView:
        """Detached snapshot of this row."""
        return _snapshot(RecordingFileView, self)


class WorkflowEvent(Base):
    """One workflow transition of a session, stamped on the wall clock and the recording."""

    __tablename__ = "workflow_events"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    offset_ms: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The session context after the transition, and the recording part offset_ms is in.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    part: Mapped[int | None] = mapped_column(Integer)

    session: Mapped[CallSession] = relationship(back_populates="events", lazy="raise")

    def view(self) -> WorkflowEventView:
        """Detached snapshot of this row."""
        return _snapshot(WorkflowEventView, self)


class EvidenceItem(Base):
    """One piece of workflow evidence, kept as a file in the recording folder and chained."""

    __tablename__ = "evidence_items"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    part: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(40))
    # Relative to the part's recording folder; None for evidence that is no file.
    file: Mapped[str | None] = mapped_column(String(120))
    sha256: Mapped[str | None] = mapped_column(String(64))
    offset_ms: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    provided_by: Mapped[str] = mapped_column(String(100))

    session: Mapped[CallSession] = relationship(back_populates="evidence", lazy="raise")

    def view(self) -> EvidenceItemView:
        """Detached snapshot of this row."""
        return _snapshot(EvidenceItemView, self)


class Review(Base):
    """A compliance auditor's judgement of a session's recording (append-only); with a
    ``flag``, of one flagged check of one part: ``fail`` confirms it, ``pass`` overrules it."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(_in("verdict", ReviewStatus), name="verdict"),
        CheckConstraint(FLAG_REVIEW, name="flag"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    verdict: Mapped[ReviewStatus] = mapped_column(_enum(ReviewStatus, 16))
    reasons: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    part: Mapped[int | None] = mapped_column(Integer)
    flag: Mapped[str | None] = mapped_column(String(50))

    session: Mapped[CallSession] = relationship(back_populates="reviews", lazy="raise")

    def view(self) -> ReviewView:
        """Detached snapshot of this row."""
        return _snapshot(ReviewView, self)
