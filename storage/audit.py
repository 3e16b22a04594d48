"""What compliance auditors ask of the database: search, reviews, legal holds, session facts.

The customer's ID number is searched through its keyed HMAC (exact search; the key is in
the data folder, not the database: ``storage.personal``) and its last four characters
(partial search, and what pages show). A query is turned into those at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, select, true

from .database import Database
from .errors import Conflict, StorageError
from .inspections import Inspection, InspectionFinding, InspectionVerdict
from .models import CallSession, Review, parse_enum
from .personal import PersonalData, mask_last4, normalise_id_number, stored_reason
from .records import locked_session, note_customer
from .review_queue import close_decided
from .views import ReviewStatus, ReviewView, SessionView

__all__ = [
    "CustomerQuery",
    "ReviewStatus",
    "SearchFilters",
    "SearchPage",
    "add_review",
    "facets",
    "mask_last4",
    "note_session_facts",
    "search",
    "set_legal_hold",
]

logger = logging.getLogger(__name__)

MAX_PER_PAGE: Final = 100
_ID_CHARS = re.compile(r"[0-9A-Z]+")
_CODE = re.compile(r"[\w.\- ]{1,100}")
_CHECK = re.compile(r"[a-z][a-z0-9_]{0,49}")
#: The inspection filter's values: a part's verdict, or no part inspected.
NOT_INSPECTED: Final = "not_inspected"
INSPECTION_CHOICES: Final = (*(str(v) for v in InspectionVerdict), NOT_INSPECTED)


@dataclass(frozen=True)
class CustomerQuery:
    """A customer looked up by the full ID number (matched by its keyed HMAC) or by its last 4.

    The full number is held only for the search (never shown in a repr or a log).
    """

    number: str | None = field(repr=False)
    last4: str

    @classmethod
    def parse(cls, text: str) -> CustomerQuery:
        """Parse what an auditor typed."""
        number = normalise_id_number(text)
        if not _ID_CHARS.fullmatch(number) or not (len(number) == 4 or 6 <= len(number) <= 30):
            raise StorageError(
                "customer must be the full ID number or its last 4 characters "
                "(digits and letters only)"
            )
        if len(number) == 4:
            return cls(None, number)
        return cls(number, number[-4:])

    def search_token(self, personal: PersonalData) -> str | None:
        """The keyed HMAC the full number is matched by (None for a last-4 search)."""
        return None if self.number is None else personal.search_token(self.number)

    @property
    def masked(self) -> str:
        """What logs and pages may show of the query."""
        return mask_last4(self.last4) if self.number else f"last 4: {self.last4}"


@dataclass(frozen=True)
class SearchFilters:
    """An auditor's search: every filter optional, dates inclusive in the local time zone."""

    date_from: date | None = None
    date_to: date | None = None
    branch: str | None = None
    agent: str | None = None
    service: str | None = None
    product: str | None = None
    outcome: str | None = None
    review_status: ReviewStatus | None = None
    customer: CustomerQuery | None = None
    legal_hold: bool | None = None
    #: A part's inspection verdict (any part of the session), or ``not_inspected``.
    inspection: str | None = None
    #: A check that failed in an inspected part of the session.
    failed_check: str | None = None
    page: int = 1
    per_page: int = 25

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            dates = f"{self.date_from.isoformat()} is after date_to {self.date_to.isoformat()}"
            raise StorageError(f"date_from {dates}")
        for name in ("branch", "agent", "service", "product", "outcome"):
            value = getattr(self, name)
            if value is not None and not _CODE.fullmatch(value):
                raise StorageError(f"{name} must be up to 100 letters, digits, '_', '.', '-'")
        if self.inspection is not None and self.inspection not in INSPECTION_CHOICES:
            allowed = ", ".join(INSPECTION_CHOICES)
            raise StorageError(f"inspection must be one of {allowed}, got {self.inspection!r}")
        if self.failed_check is not None and not _CHECK.fullmatch(self.failed_check):
            raise StorageError(
                f"failed_check must be a check's name (a-z, 0-9, _), got {self.failed_check!r}"
            )
        if self.page < 1:
            raise StorageError(f"page must be >= 1, got {self.page}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise StorageError(f"per_page must be from 1 to {MAX_PER_PAGE}, got {self.per_page}")

    @classmethod
    def from_query(
        cls, query: Mapping[str, str], checks: Collection[str] | None = None
    ) -> SearchFilters:
        """Parse a page's query string; blank fields are no filter. Raises StorageError.

        ``checks``: the names ``failed_check`` may take (any well-formed name if None).
        """
        known = {
            "date_from", "date_to", "branch", "agent", "service", "product", "outcome",
            "review_status", "customer", "legal_hold", "inspection", "failed_check", "page",
            "per_page",
        }  # fmt: skip
        unknown = sorted(set(query) - known)
        if unknown:
            raise StorageError(f"unknown search field(s): {', '.join(unknown)}")
        q = {k: v.strip() for k, v in query.items() if v.strip()}
        hold = q.get("legal_hold")
        if hold is not None and hold not in ("yes", "no"):
            raise StorageError(f"legal_hold must be yes or no, got {hold!r}")
        status = q.get("review_status")
        check = q.get("failed_check")
        if check is not None and checks is not None and check not in checks:
            raise StorageError(
                f"unknown check {check[:50]!r} for failed_check; known checks: "
                + ", ".join(sorted(checks))
            )
        return cls(
            date_from=_date(q, "date_from"),
            date_to=_date(q, "date_to"),
            branch=q.get("branch"),
            agent=q.get("agent"),
            service=q.get("service"),
            product=q.get("product"),
            outcome=q.get("outcome"),
            review_status=None
            if status is None
            else parse_enum(ReviewStatus, status, "review_status"),
            customer=CustomerQuery.parse(q["customer"]) if "customer" in q else None,
            legal_hold=None if hold is None else hold == "yes",
            inspection=q.get("inspection"),
            failed_check=check,
            page=_whole(q, "page", 1),
            per_page=_whole(q, "per_page", 25),
        )

    def described(self) -> dict[str, Any]:
        """The filters in force, for the access log: the customer only masked."""
        out: dict[str, Any] = {}
        for name in ("branch", "agent", "service", "product", "outcome"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.date_from:
            out["date_from"] = self.date_from.isoformat()
        if self.date_to:
            out["date_to"] = self.date_to.isoformat()
        if self.review_status:
            out["review_status"] = str(self.review_status)
        if self.customer:
            out["customer"] = self.customer.masked
        if self.legal_hold is not None:
            out["legal_hold"] = self.legal_hold
        for name in ("inspection", "failed_check"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["page"] = self.page
        return out


@dataclass(frozen=True)
class SearchPage:
    """One page of search results, newest first, and how many match in all."""

    sessions: tuple[SessionView, ...]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the results fill (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def _date(q: Mapping[str, str], name: str) -> date | None:
    if name not in q:
        return None
    try:
        return date.fromisoformat(q[name])
    except ValueError:
        raise StorageError(f"{name} must be a date like 2025-03-01, got {q[name]!r}") from None


def _whole(q: Mapping[str, str], name: str, default: int) -> int:
    if name not in q:
        return default
    if not q[name].isascii() or not q[name].isdigit() or len(q[name]) > 6:
        raise StorageError(f"{name} must be a whole number, got {q[name]!r}")
    return int(q[name])


def _conditions(
    filters: SearchFilters, zone: ZoneInfo, personal: PersonalData
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.date_from:
        start = datetime.combine(filters.date_from, time(), zone).astimezone(UTC)
        where.append(CallSession.created_at >= start)
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), zone).astimezone(UTC)
        where.append(CallSession.created_at < end)
    columns = {
        "branch": CallSession.branch,
        "agent": CallSession.agent_name,
        "service": CallSession.service,
        "product": CallSession.product_code,
        "outcome": CallSession.outcome,
    }
    for name, column in columns.items():
        if getattr(filters, name) is not None:
            where.append(column == getattr(filters, name))
    if filters.review_status is not None:
        where.append(CallSession.review_status == filters.review_status)
    if filters.legal_hold is not None:
        where.append(CallSession.legal_hold.is_(filters.legal_hold))
    if filters.inspection == NOT_INSPECTED:
        where.append(CallSession.id.not_in(select(Inspection.session_id)))
    elif filters.inspection is not None:
        verdict = InspectionVerdict(filters.inspection)
        inspected = select(Inspection.session_id).where(Inspection.verdict == verdict)
        where.append(CallSession.id.in_(inspected))
    if filters.failed_check is not None:
        failed = (
            select(Inspection.session_id)
            .join(InspectionFinding, InspectionFinding.inspection_id == Inspection.id)
            .where(
                InspectionFinding.check == filters.failed_check,
                InspectionFinding.verdict == InspectionVerdict.FAIL,
            )
        )
        where.append(CallSession.id.in_(failed))
    if filters.customer is not None:
        token = filters.customer.search_token(personal)
        if token is not None:
            where.append(CallSession.customer_id_hmac == token)
        else:
            where.append(CallSession.customer_id_last4 == filters.customer.last4)
    return where


async def search(db: Database, filters: SearchFilters, *, timezone: str = "UTC") -> SearchPage:
    """The sessions matching ``filters``, newest first, one page of them."""
    where = and_(true(), *_conditions(filters, ZoneInfo(timezone), db.personal))
    query: Select[CallSession] = (
        select(CallSession)
        .where(where)
        .order_by(CallSession.created_at.desc(), CallSession.id.desc())
        .offset((filters.page - 1) * filters.per_page)
        .limit(filters.per_page)
    )
    async with db._transaction() as session:
        total = await session.scalar(select(func.count()).select_from(CallSession).where(where))
        rows = await session.scalars(query)
        views = tuple(row.view() for row in rows)
    return SearchPage(views, int(total or 0), filters.page, filters.per_page)


async def facets(db: Database) -> dict[str, list[str]]:
    """The values each filter can take today (for the search form's choices)."""
    columns = {
        "branch": CallSession.branch,
        "agent": CallSession.agent_name,
        "service": CallSession.service,
        "product": CallSession.product_code,
        "outcome": CallSession.outcome,
    }
    out: dict[str, list[str]] = {}
    async with db._transaction() as session:
        for name, column in columns.items():
            values = await session.scalars(
                select(column).distinct().where(column.is_not(None)).order_by(column)
            )
            out[name] = [str(v) for v in values]
    return out


async def add_review(
    db: Database,
    session_id: str,
    *,
    verdict: str,
    reasons: str,
    reviewer: str,
    at: datetime | None = None,
) -> ReviewView:
    """Append a review; the session's review status becomes its verdict.

    Its queued parts with no flag left to decide (sampled passes) leave the review queue.
    """
    checked = parse_enum(ReviewStatus, verdict, "verdict")
    if checked is ReviewStatus.UNREVIEWED:
        raise StorageError("verdict must be pass, fail or follow_up")
    reasons = reasons.strip()
    if checked is not ReviewStatus.PASS and not reasons:
        raise StorageError(f"a {checked} verdict needs reasons")
    if "\x00" in reasons:
        raise StorageError("reasons must not hold NUL characters")
    reasons = stored_reason("reasons", reasons)
    if not reviewer.strip() or len(reviewer) > 100:
        raise StorageError("reviewer must be a name of 1 to 100 characters")
    async with db._transaction() as session:
        row = await locked_session(session, session_id)
        previous = row.review_status
        review = Review(
            session_id=session_id,
            verdict=checked,
            reasons=reasons,
            reviewer=reviewer,
            at=at or datetime.now(UTC),
        )
        session.add(review)
        row.review_status = checked
        await session.flush()
        view = review.view()
        await close_decided(session, session_id, view.at)
    logger.info("session %s: review %s -> %s by %r", session_id, previous, checked, reviewer)
    return view


async def set_legal_hold(db: Database, session_id: str, on: bool) -> SessionView:
    """Set (``on``) or lift a session's legal hold; raises Conflict if already so."""
    async with db._transaction() as session:
        row = await locked_session(session, session_id)
        if row.legal_hold == on:
            state = "already under legal hold" if on else "not under legal hold"
            raise Conflict(f"session {session_id} is {state}")
        row.legal_hold = on
        await session.flush()
        view = row.view()
    before, after = ("off", "on") if on else ("on", "off")
    logger.info("session %s: legal hold %s -> %s", session_id, before, after)
    return view


async def note_session_facts(
    db: Database, session_id: str, context: Mapping[str, Any], outcome: str | None
) -> None:
    """Keep what auditors search by from a session's workflow context (the ID as its HMAC)."""
    product = context.get("product_code")
    async with db._transaction() as session:
        row = await locked_session(session, session_id)
        note_customer(row, db.personal, dict(context))
        if isinstance(product, str) and product.strip():
            row.product_code = product.strip()[:50]
        if outcome is not None:
            row.outcome = outcome[:50]
    logger.info("session %s: audit facts noted (outcome %s)", session_id, outcome)
