"""Auditor records: search by every filter, append-only reviews, legal holds, session facts."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage import Database, ReviewStatus, StorageError
from storage.audit import (
    CustomerQuery,
    SearchFilters,
    SearchPage,
    add_review,
    facets,
    note_session_facts,
    search,
    set_legal_hold,
)

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ID_A = "110105198506151236"
ID_B = "11010519900101002X"


async def recorded(
    db: Database,
    *,
    created_at: datetime = T0,
    branch: str = "BJ-001",
    agent: str = "agent-1",
    service: str = "wealth_purchase",
    context: dict[str, str] | None = None,
    outcome: str | None = "purchase_confirmed",
) -> str:
    """An ended session whose audit facts were noted."""
    session_id = uuid.uuid4().hex
    await db.create_session(
        id=session_id,
        service=service,
        branch=branch,
        kiosk_name="K1",
        flow=service,
        workflow_state="identity_check",
        created_at=created_at,
    )
    await db.start_session(
        session_id, agent_name=agent, started_at=created_at, recording_dir=session_id
    )
    await db.end_session(session_id, ended_at=created_at + timedelta(minutes=5), end_reason="done")
    await note_session_facts(db, session_id, context or {}, outcome)
    return session_id


def ids(page: SearchPage) -> set[str]:
    """The session ids on a search page."""
    return {s.id for s in page.sessions}


async def test_session_facts_keep_only_the_keyed_hmac_and_the_last_four(db: Database) -> None:
    session_id = await recorded(
        db, context={"id_number": ID_B.lower(), "product_code": "WM2025-017", "name": "张伟"}
    )
    view = (await db.get_session(session_id)).session
    assert view.customer_id_hmac == db.personal.search_token(ID_B)
    assert view.customer_id_hmac != hashlib.sha256(ID_B.encode()).hexdigest()
    assert view.customer_id_last4 == "002X"
    assert view.product_code == "WM2025-017"
    assert view.outcome == "purchase_confirmed"
    assert view.review_status is ReviewStatus.UNREVIEWED and view.legal_hold is False
    # A later call without the facts keeps those known.
    await note_session_facts(db, session_id, {}, None)
    again = (await db.get_session(session_id)).session
    assert (again.customer_id_last4, again.outcome) == ("002X", "purchase_confirmed")


async def test_search_by_every_filter_with_paging(db: Database) -> None:
    a = await recorded(db, context={"id_number": ID_A, "product_code": "WM2025-017"})
    b = await recorded(
        db,
        created_at=T0 + timedelta(days=2),
        branch="SH-002",
        agent="agent-2",
        service="card_opening",
        context={"id_number": ID_B},
        outcome="completed",
    )
    c = await recorded(db, created_at=T0 - timedelta(days=10), outcome=None)
    everything = await search(db, SearchFilters())
    assert [s.id for s in everything.sessions] == [b, a, c] and everything.total == 3

    def by(**query: str) -> SearchFilters:
        return SearchFilters.from_query(query)

    assert ids(await search(db, by(branch="SH-002"))) == {b}
    assert ids(await search(db, by(agent="agent-1"))) == {a, c}
    assert ids(await search(db, by(service="card_opening"))) == {b}
    assert ids(await search(db, by(product="WM2025-017"))) == {a}
    assert ids(await search(db, by(outcome="completed"))) == {b}
    assert ids(await search(db, by(customer=ID_A))) == {a}
    assert ids(await search(db, by(customer="002x"))) == {b}
    assert ids(await search(db, by(customer="110105198506151237"))) == set()
    # Dates are whole days in the given zone: 09:30 UTC on 1 March is 17:30 in Shanghai.
    window = by(date_from="2025-03-01", date_to="2025-03-02")
    assert ids(await search(db, window, timezone="Asia/Shanghai")) == {a}
    assert ids(await search(db, by(date_to="2025-02-28"))) == {c}
    assert ids(await search(db, by(date_from="2025-03-03"))) == {b}
    paged = await search(db, by(per_page="2", page="2"))
    assert [s.id for s in paged.sessions] == [c] and (paged.total, paged.pages) == (3, 2)

    await add_review(db, a, verdict="fail", reasons="no risk warning heard", reviewer="audrey")
    await set_legal_hold(db, b, True)
    assert ids(await search(db, by(review_status="fail"))) == {a}
    assert ids(await search(db, by(review_status="unreviewed"))) == {b, c}
    assert ids(await search(db, by(legal_hold="yes"))) == {b}
    assert ids(await search(db, by(legal_hold="no"))) == {a, c}

    choices = await facets(db)
    assert choices["branch"] == ["BJ-001", "SH-002"]
    assert choices["outcome"] == ["completed", "purchase_confirmed"]
    assert choices["product"] == ["WM2025-017"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2025-13-01"}, "date_from must be a date"),
        ({"date_from": "2025-03-02", "date_to": "2025-03-01"}, "is after date_to"),
        ({"review_status": "great"}, "invalid review_status 'great'"),
        ({"customer": "12"}, "customer must be the full ID number or its last 4"),
        ({"customer": "1101-0519"}, "customer must be the full ID number"),
        ({"legal_hold": "maybe"}, "legal_hold must be yes or no"),
        ({"page": "0"}, "page must be >= 1"),
        ({"page": "two"}, "page must be a whole number"),
        ({"per_page": "1000"}, "per_page must be from 1 to 100"),
        ({"branch": "a'; drop table"}, "branch must be"),
        ({"colour": "red"}, "unknown search field(s): colour"),
    ],
)
def test_bad_filters_are_named(query: dict[str, str], message: str) -> None:
    with pytest.raises(StorageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SearchFilters.from_query(query)


def test_the_customer_query_shows_no_full_number() -> None:
    query = CustomerQuery.parse(f" {ID_A} ")
    assert query.last4 == "1236" and ID_A not in repr(query)
    assert query.masked == "**************1236"
    assert SearchFilters(customer=query).described() == {
        "customer": "**************1236",
        "page": 1,
    }
    assert CustomerQuery.parse("1236").masked == "last 4: 1236"


async def test_reviews_are_appended_and_the_latest_verdict_is_the_status(db: Database) -> None:
    session_id = await recorded(db)
    with pytest.raises(StorageError, match="a fail verdict needs reasons"):
        await add_review(db, session_id, verdict="fail", reasons="  ", reviewer="audrey")
    with pytest.raises(StorageError, match="invalid verdict 'maybe'"):
        await add_review(db, session_id, verdict="maybe", reasons="", reviewer="audrey")
    with pytest.raises(StorageError, match="verdict must be pass, fail or follow_up"):
        await add_review(db, session_id, verdict="unreviewed", reasons="x", reviewer="audrey")
    first = await add_review(
        db, session_id, verdict="follow_up", reasons="ask the branch", reviewer="audrey", at=T0
    )
    second = await add_review(db, session_id, verdict="pass", reasons="", reviewer="bob")
    detail = await db.get_session(session_id)
    assert [r.id for r in detail.reviews] == [first.id, second.id]
    assert [(r.verdict, r.reviewer) for r in detail.reviews] == [
        (ReviewStatus.FOLLOW_UP, "audrey"),
        (ReviewStatus.PASS, "bob"),
    ]
    assert detail.reviews[0].at == T0 and detail.reviews[0].reasons == "ask the branch"
    assert detail.session.review_status is ReviewStatus.PASS
    with pytest.raises(StorageError, match="not found"):
        await add_review(db, "nope", verdict="pass", reasons="", reviewer="audrey")


async def test_legal_hold_is_set_and_lifted_once(db: Database) -> None:
    session_id = await recorded(db)
    assert (await set_legal_hold(db, session_id, True)).legal_hold is True
    with pytest.raises(StorageError, match="already under legal hold"):
        await set_legal_hold(db, session_id, True)
    assert (await set_legal_hold(db, session_id, False)).legal_hold is False
    with pytest.raises(StorageError, match="is not under legal hold"):
        await set_legal_hold(db, session_id, False)
