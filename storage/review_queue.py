"""The auditors' review queue: inspected parts awaiting a person, and each flag's decision.

A part is queued when its inspection is saved (``InspectionRecords.save_inspection``, in
the same transaction): every part whose inspection fails or needs review, and a share of
the passes. Which passes is decided by the session id alone (``sampled``), so every node
and every re-run picks the same. A flag is a check that failed or needs review in the
part; an auditor confirms or overrules it with a review (``reviews``, with its part and
flag: see ``models.Review``). The part leaves the queue once every flag is decided; a
sampled pass has none, and leaves it with a review of its session (``audit.add_review``).
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import CheckConstraint, ForeignKey, Integer, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from .errors import Conflict, NotFound, StorageError
from .inspections import Inspection, InspectionFinding, InspectionVerdict
from .models import Base, Review, UTCDateTime, _enum, _in
from .personal import stored_reason
from .records import locked_session
from .views import ReviewStatus, ReviewView

logger = logging.getLogger(__name__)

#: The share of passing parts queued when no setting says otherwise.
DEFAULT_SAMPLE_SHARE: Final = 0.10
#: The longest queue a page lists.
MAX_LISTED: Final = 200


class QueueReason(StrEnum):
    """Why a part is in the queue."""

    FLAGGED = "flagged"
    SAMPLED = "sampled"


class Decision(StrEnum):
    """What an auditor makes of one flag."""

    CONFIRM = "confirm"
    OVERRULE = "overrule"


class QueuedReview(Base):
    """An inspected part queued for a person's review (done once every flag is decided)."""

    __tablename__ = "review_queue"
    __table_args__ = (
        UniqueConstraint("session_id", "part"),
        CheckConstraint(_in("reason", QueueReason), name="reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    part: Mapped[int] = mapped_column(Integer)
    reason: Mapped[QueueReason] = mapped_column(_enum(QueueReason, 16))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True, slots=True)
class Flag:
    """One flagged check of a part, and its decision if made."""

    check: str
    verdict: InspectionVerdict
    review: ReviewView | None

    @property
    def decided(self) -> bool:
        """Whether an auditor has confirmed or overruled it."""
        return self.review is not None


@dataclass(frozen=True, slots=True)
class QueuedPart:
    """A part awaiting review, as the queue lists it."""

    session_id: str
    part: int
    reason: QueueReason
    queued_at: datetime
    verdict: InspectionVerdict
    score: float
    flags: tuple[Flag, ...]

    @property
    def undecided(self) -> int:
        """How many of its flags await a decision."""
        return sum(not flag.decided for flag in self.flags)


def sampled(session_id: str, share: float) -> bool:
    """Whether a passing part of ``session_id`` is among the ``share`` queued (deterministic)."""
    draw = int.from_bytes(hashlib.sha256(session_id.encode("utf-8")).digest()[:8], "big")
    return draw < share * 2**64


def check_share(share: float) -> float:
    """``share`` if it is a share (0 to 1), else StorageError."""
    if not 0.0 <= share <= 1.0:
        raise StorageError(f"the review sample share must be from 0 to 1, got {share}")
    return share


async def enqueue(
    session: AsyncSession, inspection: Inspection, share: float, at: datetime
) -> QueueReason | None:
    """Queue a just-saved inspection's part if its verdict or the sample says so."""
    if inspection.verdict is not InspectionVerdict.PASS:
        reason = QueueReason.FLAGGED
    elif sampled(inspection.session_id, share):
        reason = QueueReason.SAMPLED
    else:
        return None
    queued = await session.scalar(
        select(QueuedReview).where(
            QueuedReview.session_id == inspection.session_id,
            QueuedReview.part == inspection.part,
        )
    )
    if queued is None:  # saved again (a re-run): the part keeps its place and decisions
        session.add(
            QueuedReview(
                session_id=inspection.session_id,
                part=inspection.part,
                reason=reason,
                queued_at=at,
            )
        )
        logger.info(
            "session %s: part %d queued for review (%s)",
            inspection.session_id,
            inspection.part,
            reason,
        )
    return reason


async def _flags(session: AsyncSession, session_id: str, part: int) -> list[Flag]:
    """The part's flags in the inspection's order, with the latest decision of each."""
    found = await session.execute(
        select(InspectionFinding.check, InspectionFinding.verdict)
        .join(Inspection, Inspection.id == InspectionFinding.inspection_id)
        .where(Inspection.session_id == session_id, Inspection.part == part)
        .order_by(InspectionFinding.id)
    )
    verdicts: dict[str, InspectionVerdict] = {}
    for check, verdict in found.all():
        if verdicts.get(check) is not InspectionVerdict.FAIL:  # a fail outweighs
            verdicts[check] = verdict
    reviews = await session.scalars(
        select(Review)
        .where(Review.session_id == session_id, Review.part == part, Review.flag.is_not(None))
        .order_by(Review.id)
    )
    decided = {row.flag: row.view() for row in reviews}
    return [Flag(check, verdict, decided.get(check)) for check, verdict in verdicts.items()]


async def close_decided(session: AsyncSession, session_id: str, at: datetime) -> list[int]:
    """Take the session's parts whose every flag is decided out of the queue; their numbers."""
    waiting = await session.scalars(
        select(QueuedReview).where(
            QueuedReview.session_id == session_id, QueuedReview.done_at.is_(None)
        )
    )
    closed = []
    for row in waiting.all():
        if all(flag.decided for flag in await _flags(session, session_id, row.part)):
            row.done_at = at
            closed.append(row.part)
            logger.info("session %s: part %d reviewed: queued -> done", session_id, row.part)
    return closed


class ReviewQueueRecords:
    """The review queue half of Database (a mixin: Database provides the transactions)."""

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        raise NotImplementedError

    async def review_queue(self, *, limit: int = MAX_LISTED) -> list[QueuedPart]:
        """The parts awaiting review, oldest first, with their verdict and flags."""
        query = (
            select(QueuedReview, Inspection)
            .join(
                Inspection,
                (Inspection.session_id == QueuedReview.session_id)
                & (Inspection.part == QueuedReview.part),
            )
            .where(QueuedReview.done_at.is_(None))
            .order_by(QueuedReview.queued_at, QueuedReview.id)
            .limit(min(max(limit, 1), MAX_LISTED))
        )
        async with self._transaction() as session:
            rows = (await session.execute(query)).all()
            return [
                QueuedPart(
                    queued.session_id,
                    queued.part,
                    queued.reason,
                    queued.queued_at,
                    inspection.verdict,
                    inspection.score,
                    tuple(await _flags(session, queued.session_id, queued.part)),
                )
                for queued, inspection in rows
            ]

    async def part_flags(self, session_id: str, part: int) -> tuple[list[Flag], bool | None]:
        """A part's flags with their decisions, and whether it awaits review (None: never
        queued)."""
        async with self._transaction() as session:
            queued = await session.scalar(
                select(QueuedReview).where(
                    QueuedReview.session_id == session_id, QueuedReview.part == part
                )
            )
            flags = await _flags(session, session_id, part)
        return flags, None if queued is None else queued.done_at is None

    async def decide_flag(
        self,
        session_id: str,
        part: int,
        check: str,
        *,
        decision: str,
        reason: str,
        reviewer: str,
        at: datetime | None = None,
    ) -> ReviewView:
        """Confirm or overrule one flag of a part, with a reason (required to overrule).

        Refused (Conflict) if the flag is already decided: a decision is kept, not
        replaced. The part leaves the queue with its last flag decided.
        """
        try:
            chosen = Decision(decision)
        except ValueError:
            raise StorageError(
                f"decision must be confirm or overrule, got {decision[:20]!r}"
            ) from None
        reason = reason.strip()
        if chosen is Decision.OVERRULE and not reason:
            raise StorageError(f"overruling {check[:50]!r} needs a reason")
        if "\x00" in reason:
            raise StorageError("a reason must not hold NUL characters")
        reason = stored_reason("reason", reason)
        if not reviewer.strip() or len(reviewer) > 100:
            raise StorageError("reviewer must be a name of 1 to 100 characters")
        at = at or datetime.now(UTC)
        async with self._transaction() as session:
            await locked_session(session, session_id)
            flags = {flag.check: flag for flag in await _flags(session, session_id, part)}
            flag = flags.get(check)
            if flag is None:
                raise NotFound(f"flag of part {part}", check[:50])
            if flag.review is not None:
                done = flag.review
                raise Conflict(
                    f"{check} of part {part} is already {done.decision} by {done.reviewer}"
                )
            verdict = ReviewStatus.FAIL if chosen is Decision.CONFIRM else ReviewStatus.PASS
            row = Review(
                session_id=session_id,
                verdict=verdict,
                reasons=reason,
                reviewer=reviewer,
                at=at,
                part=part,
                flag=check,
            )
            session.add(row)
            await session.flush()
            view = row.view()
            await close_decided(session, session_id, at)
        logger.info(
            "session %s: part %d flag %s -> %s by %r",
            session_id,
            part,
            check,
            view.decision,
            reviewer,
        )
        return view
