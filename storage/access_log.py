"""The access log: who searched, replayed, exported or held what, append-only and hash-chained.

Entry *n* holds ``hash = SHA-256(prev_hash || canonical JSON of the entry)`` with
``prev_hash`` the hash of entry *n-1* (64 zeros for the first), so changing, removing or
re-ordering any entry breaks the chain from there on. Removing the newest entries leaves
a shorter valid chain: anchor ``LogReport.last_hash`` elsewhere to detect that.
``detail`` must never hold personal data: callers mask it before appending.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Integer, String, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from .errors import StorageError, StorageUnavailable
from .models import Base

if TYPE_CHECKING:
    from .database import Database

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# One PostgreSQL advisory lock serialises appends, even to an empty table.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"dualrec.access_log").digest()[:8], signed=True)
_ATTEMPTS = 5
_BATCH = 1000
# SQLSTATEs of serialization failure and deadlock: the transaction may simply be retried.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
_LIMITS = {"actor": 100, "role": 32, "target": 500}


class AccessAction(StrEnum):
    """What a user did with the recordings or the console."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    SEARCH = "search"
    VIEW = "view"
    REPLAY = "replay"
    EXPORT = "export"
    REVIEW = "review"
    #: An auditor confirmed or overruled one flag of an inspected part.
    FLAG_REVIEW = "flag_review"
    #: An auditor opened the review queue.
    REVIEW_QUEUE = "review_queue"
    LEGAL_HOLD = "legal_hold"
    LEGAL_HOLD_LIFTED = "legal_hold_lifted"
    RETENTION_EXTENDED = "retention_extended"
    DELETE = "delete"
    #: An admin added, enrolled or revoked an account.
    ADMIN = "admin"


class AccessLogRow(Base):
    """One access log entry as stored; read it through :class:`AccessEntry`."""

    __tablename__ = "access_log"
    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    # Always written as aware UTC; SQLite gives it back naive (UTC wall time).
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(_LIMITS["actor"]))
    role: Mapped[str] = mapped_column(String(_LIMITS["role"]))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(_LIMITS["target"]))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def entry(self) -> AccessEntry:
        """Detached snapshot of this row."""
        values = {field.name: getattr(self, field.name) for field in fields(AccessEntry)}
        at = self.at
        values["at"] = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        return AccessEntry(**values)


@dataclass(frozen=True)
class AccessEntry:
    """One access log entry."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def computed_hash(self) -> str:
        """SHA-256 of ``prev_hash`` followed by the canonical JSON of the entry's fields."""
        fields = {
            "seq": self.seq,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }
        return hashlib.sha256(self.prev_hash.encode("ascii") + _canonical(fields)).hexdigest()


@dataclass(frozen=True)
class LogReport:
    """Outcome of :func:`verify`: the first broken entry and what is wrong with it."""

    ok: bool
    entries: int
    first_broken: int | None = None
    problem: str | None = None
    last_seq: int = 0
    last_hash: str = GENESIS_HASH


async def append(
    db: Database,
    actor: str,
    role: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> AccessEntry:
    """Append an entry at the end of the chain; concurrent appends are serialised."""
    checked = _parse_action(action)
    for name, value in (("actor", actor), ("role", role), ("target", target)):
        _check_text(name, value)
    try:
        # Stored as it will be read back and hashed: JSON types only, string keys.
        clean: dict[str, Any] = json.loads(_canonical(detail or {}))
    except (TypeError, ValueError) as exc:
        raise StorageError(f"access log detail is not plain JSON: {exc}") from exc
    if not isinstance(clean, dict):
        raise StorageError("access log detail must be a JSON object")
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with db.sessions.begin() as session:
                entry = await _append(session, actor, str(role), checked.value, target, clean)
        except sa_exc.SQLAlchemyError as exc:
            if attempt == _ATTEMPTS or not _conflict(exc):
                raise _translate(exc) from exc
            logger.warning("access log append conflicted (attempt %d): %s", attempt, exc)
            await asyncio.sleep(0.02 * 2**attempt)
        except OSError as exc:
            raise StorageUnavailable(f"database unavailable: {exc}") from exc
        else:
            logger.info("access %d: %s %s %s", entry.seq, actor, checked, target)
            return entry
    raise AssertionError("unreachable")


async def verify(db: Database) -> LogReport:
    """Walk the whole chain and name the first entry that is missing, moved or altered."""
    expected, prev_hash, prev_id, count = 1, GENESIS_HASH, 0, 0
    try:
        async with db.sessions.begin() as session:
            while True:
                rows = list(
                    await session.scalars(
                        select(AccessLogRow)
                        .where(AccessLogRow.seq >= expected)
                        .order_by(AccessLogRow.seq)
                        .limit(_BATCH)
                    )
                )
                if not rows:
                    break
                for row in rows:
                    count += 1
                    problem = _check(row, expected, prev_hash, prev_id)
                    if problem is not None:
                        return LogReport(False, count, *problem, expected - 1, prev_hash)
                    expected, prev_hash, prev_id = row.seq + 1, row.hash, row.id
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        raise _translate(exc) from exc
    return LogReport(True, count, None, None, expected - 1, prev_hash)


async def entries(
    db: Database, *, after_seq: int = 0, limit: int = 100, target: str | None = None
) -> list[AccessEntry]:
    """Up to ``limit`` entries after ``after_seq`` in order, optionally about one target."""
    query = select(AccessLogRow).where(AccessLogRow.seq > after_seq)
    if target is not None:
        query = query.where(AccessLogRow.target == target)
    try:
        async with db.sessions.begin() as session:
            rows = await session.scalars(query.order_by(AccessLogRow.seq).limit(limit))
            return [row.entry() for row in rows]
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        raise _translate(exc) from exc


async def _append(
    session: AsyncSession, actor: str, role: str, action: str, target: str, detail: dict[str, Any]
) -> AccessEntry:
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # Held until commit; SQLite needs none: Database begins every transaction IMMEDIATE.
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    last = (
        await session.execute(
            select(AccessLogRow.seq, AccessLogRow.hash).order_by(AccessLogRow.seq.desc()).limit(1)
        )
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last is not None else (1, GENESIS_HASH)
    entry = AccessEntry(seq, datetime.now(UTC), actor, role, action, target, detail, prev_hash, "")
    entry = replace(entry, hash=entry.computed_hash())
    session.add(AccessLogRow(**asdict(entry)))
    await session.flush()
    return entry


def _check(
    row: AccessLogRow, expected: int, prev_hash: str, prev_id: int
) -> tuple[int, str] | None:
    """The first broken seq and the problem, or None if ``row`` follows on correctly."""
    if row.seq != expected:
        return expected, f"entry {expected} is missing (deleted?); the next entry is {row.seq}"
    if row.prev_hash != prev_hash:
        return row.seq, (
            f"entry {row.seq} does not follow entry {row.seq - 1}: prev_hash differs "
            "(entries deleted, re-ordered, or the one before altered and re-hashed)"
        )
    entry = row.entry()
    if entry.computed_hash() != row.hash:
        return row.seq, f"entry {row.seq} was altered: its hash does not match its contents"
    if row.id <= prev_id:
        return row.seq, f"entry {row.seq} was re-ordered: written before entry {row.seq - 1}"
    return None


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _parse_action(action: str) -> AccessAction:
    try:
        return AccessAction(action)
    except ValueError:
        allowed = ", ".join(member.value for member in AccessAction)
        raise StorageError(f"invalid access action {action!r}; expected one of {allowed}") from None


def _check_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise StorageError(f"access log {name} must be a non-empty string")
    if len(value) > _LIMITS[name] or "\x00" in value:
        raise StorageError(f"access log {name} is longer than {_LIMITS[name]} or holds NUL")


def _conflict(exc: sa_exc.SQLAlchemyError) -> bool:
    """Whether another writer got in the way, so that the transaction may be retried."""
    if isinstance(exc, sa_exc.IntegrityError):
        return True
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in _RETRY_SQLSTATES or "database is locked" in str(orig)


def _translate(exc: BaseException) -> StorageError:
    orig = getattr(exc, "orig", None) or exc
    reason = f"{type(orig).__name__}: {orig}"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | OSError):
        return StorageUnavailable(f"database unavailable: {reason}")
    return StorageError(f"access log: database error: {reason}")
