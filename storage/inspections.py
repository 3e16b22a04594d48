"""Inspection summaries: one row per inspected recording part, searchable by verdict and check.

The report itself is a file of the recording (hash-chained, in the signed manifest);
the database keeps what auditors search by: the part's verdict and score, the file and
its SHA-256, and one finding row per check that failed or needs review.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from .errors import NotFound
from .models import Base, CallSession, UTCDateTime, _enum, _in, parse_enum


class InspectionVerdict(StrEnum):
    """A part's (or a check's) inspection verdict."""

    PASS = "pass"
    NEEDS_REVIEW = "needs_review"
    FAIL = "fail"


class Inspection(Base):
    """The summary of one recording part's inspection."""

    __tablename__ = "inspections"
    __table_args__ = (
        UniqueConstraint("session_id", "part"),
        CheckConstraint(_in("verdict", InspectionVerdict), name="verdict"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    part: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[InspectionVerdict] = mapped_column(_enum(InspectionVerdict, 16), index=True)
    score: Mapped[float] = mapped_column(Float)
    #: The report file, relative to the recordings root, and its SHA-256.
    file: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InspectionFinding(Base):
    """A check that failed or needs review in an inspected part (once per check and verdict)."""

    __tablename__ = "inspection_findings"
    __table_args__ = (
        UniqueConstraint("inspection_id", "check", "verdict"),
        CheckConstraint(_in("verdict", InspectionVerdict), name="verdict"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), index=True
    )
    check: Mapped[str] = mapped_column(String(50), index=True)
    verdict: Mapped[InspectionVerdict] = mapped_column(_enum(InspectionVerdict, 16))


@dataclass(frozen=True, slots=True)
class InspectionView:
    """An inspected part as searched: verdict, score, report file, failed checks."""

    session_id: str
    part: int
    verdict: InspectionVerdict
    score: float
    file: str
    sha256: str
    inspected_at: datetime
    failed: tuple[str, ...]
    needs_review: tuple[str, ...]


class InspectionRecords:
    """The inspections half of Database (a mixin: Database provides the transactions)."""

    #: The share of passing parts queued for review (``review_queue.sampled``).
    review_sample_share: float

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        raise NotImplementedError

    async def save_inspection(
        self,
        session_id: str,
        part: int,
        *,
        verdict: str,
        score: float,
        file: str,
        sha256: str,
        inspected_at: datetime,
        failed: list[str],
        needs_review: list[str],
    ) -> None:
        """Store (or replace) the summary of a part's inspection; queue the part for
        review if it fails, needs review or is among the sampled passes."""
        checked = parse_enum(InspectionVerdict, verdict, "verdict")
        async with self._transaction() as session:
            if await session.get(CallSession, session_id) is None:
                raise NotFound("session", session_id)
            await session.execute(
                delete(Inspection).where(
                    Inspection.session_id == session_id, Inspection.part == part
                )
            )
            row = Inspection(
                session_id=session_id,
                part=part,
                verdict=checked,
                score=score,
                file=file,
                sha256=sha256,
                inspected_at=inspected_at,
            )
            session.add(row)
            await session.flush()
            for names, kind in ((failed, InspectionVerdict.FAIL), (needs_review, None)):
                for name in dict.fromkeys(names):
                    session.add(
                        InspectionFinding(
                            inspection_id=row.id,
                            check=name,
                            verdict=kind or InspectionVerdict.NEEDS_REVIEW,
                        )
                    )
            # Queued in the same transaction: no part is inspected and left unqueued.
            from .review_queue import enqueue

            await enqueue(session, row, self.review_sample_share, inspected_at)

    async def search_inspections(
        self, *, verdict: str | None = None, failed_check: str | None = None, limit: int = 100
    ) -> list[InspectionView]:
        """Inspected parts, newest first, by verdict and by a check that failed."""
        query = select(Inspection).order_by(Inspection.inspected_at.desc(), Inspection.id.desc())
        if verdict is not None:
            query = query.where(
                Inspection.verdict == parse_enum(InspectionVerdict, verdict, "verdict")
            )
        if failed_check is not None:
            query = query.where(
                Inspection.id.in_(
                    select(InspectionFinding.inspection_id).where(
                        InspectionFinding.check == failed_check,
                        InspectionFinding.verdict == InspectionVerdict.FAIL,
                    )
                )
            )
        async with self._transaction() as session:
            rows = list((await session.scalars(query.limit(limit))).all())
            found = await session.execute(
                select(InspectionFinding).where(
                    InspectionFinding.inspection_id.in_([row.id for row in rows])
                )
            )
            findings = list(found.scalars().all())
        return [_view(row, findings) for row in rows]

    async def check_names(self) -> list[str]:
        """The names of every check ever flagged, in order (for the search's choices)."""
        async with self._transaction() as session:
            names = await session.scalars(
                select(InspectionFinding.check).distinct().order_by(InspectionFinding.check)
            )
            return list(names.all())

    async def session_verdicts(self, session_ids: list[str]) -> dict[str, InspectionVerdict]:
        """The worst inspection verdict of each of these sessions' parts (absent: none)."""
        worst: dict[str, InspectionVerdict] = {}
        order = list(InspectionVerdict)
        async with self._transaction() as session:
            rows = await session.execute(
                select(Inspection.session_id, Inspection.verdict).where(
                    Inspection.session_id.in_(session_ids)
                )
            )
            for session_id, verdict in rows.all():
                if order.index(verdict) >= order.index(worst.get(session_id, verdict)):
                    worst[session_id] = verdict
        return worst

    async def get_inspection(self, session_id: str, part: int = 1) -> InspectionView | None:
        """A part's inspection summary, None if it was not inspected."""
        async with self._transaction() as session:
            row = await session.scalar(
                select(Inspection).where(
                    Inspection.session_id == session_id, Inspection.part == part
                )
            )
            if row is None:
                return None
            findings = await session.scalars(
                select(InspectionFinding).where(InspectionFinding.inspection_id == row.id)
            )
            return _view(row, list(findings.all()))


def _view(row: Inspection, findings: list[InspectionFinding]) -> InspectionView:
    mine = sorted((f for f in findings if f.inspection_id == row.id), key=lambda f: f.id)
    return InspectionView(
        session_id=row.session_id,
        part=row.part,
        verdict=row.verdict,
        score=row.score,
        file=row.file,
        sha256=row.sha256,
        inspected_at=row.inspected_at,
        failed=tuple(f.check for f in mine if f.verdict is InspectionVerdict.FAIL),
        needs_review=tuple(f.check for f in mine if f.verdict is InspectionVerdict.NEEDS_REVIEW),
    )
