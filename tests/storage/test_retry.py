"""Retries through a lost connection, on a real PostgreSQL behind a relay that can fail.

The relay (``tests.tcp_relay``) stands between the Database and PostgreSQL: cut, the
database is unreachable; told to lose the reply to a COMMIT, the work is done but the
Database never hears so (the commit is "in doubt"). Nothing is applied twice, and what
may not be retried in doubt says so instead.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from yarl import URL

from storage import Database, NotFound, RetryPolicy, StorageUnavailable
from tests.storage.conftest import Target
from tests.tcp_relay import TcpRelay

pytestmark = pytest.mark.postgres

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
# asyncpg ends a transaction with the simple query "COMMIT;" ("READ COMMITTED;" never matches).
COMMIT = b"COMMIT;"


@pytest.fixture
async def relay(postgres_target: Target) -> AsyncIterator[TcpRelay]:
    """A relay to the test PostgreSQL server, listening."""
    url = URL(postgres_target.url)
    relay = TcpRelay(url.host or "127.0.0.1", url.port or 5432)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.cut()


@pytest.fixture
async def db(postgres_target: Target, relay: TcpRelay) -> AsyncIterator[Database]:
    """A started Database on the test's schema, through the relay."""
    url = str(URL(postgres_target.url).with_port(relay.port))
    database = Database(
        url,
        schema=postgres_target.schema,
        personal=postgres_target.personal,
        retry=RetryPolicy(total_s=15.0, longest_wait_s=0.5),
    )
    async with database:
        yield database


async def waiting(db: Database) -> str:
    """A new waiting session's id."""
    session_id = uuid.uuid4().hex
    await db.create_session(
        id=session_id,
        service="card_opening",
        branch="BJ-001",
        kiosk_name="K1",
        flow="card_opening",
        workflow_state="identity_check",
        created_at=T0,
    )
    return session_id


async def test_lost_commit_reply_of_an_event_stores_it_once(db: Database, relay: TcpRelay) -> None:
    session_id = await waiting(db)
    await db.start_session(session_id, agent_name="A1", started_at=T0, recording_dir=None)
    relay.lose_reply_to(COMMIT)
    event = await db.add_workflow_event(
        session_id,
        event="identity_verified",
        source="identity_check",
        target="consent",
        actor="agent",
        at=T0,
        offset_ms=10,
    )
    assert relay.lost == 1
    assert db.health.retries >= 1
    second = await db.add_workflow_event(
        session_id,
        event="consent_given",
        source="consent",
        target="terms_disclosure",
        actor="agent",
        at=T0,
        offset_ms=20,
    )
    detail = await db.get_session(session_id)
    assert [(e.seq, e.event) for e in detail.events] == [
        (1, "identity_verified"),
        (2, "consent_given"),
    ]
    assert (event.seq, second.seq) == (1, 2)


async def test_lost_commit_reply_of_evidence_stores_it_once(db: Database, relay: TcpRelay) -> None:
    session_id = await waiting(db)
    await db.start_session(session_id, agent_name="A1", started_at=T0, recording_dir=None)
    for seq, lose in ((1, True), (2, False)):
        if lose:
            relay.lose_reply_to(COMMIT)
        await db.add_evidence(
            session_id,
            part=1,
            step="consent",
            kind="consent",
            file=f"evidence-consent-{seq:03d}.json",
            sha256="ab" * 32,
            offset_ms=5,
            at=T0,
            provided_by="kiosk",
        )
    assert relay.lost == 1
    detail = await db.get_session(session_id)
    assert [(e.seq, e.file) for e in detail.evidence] == [
        (1, "evidence-consent-001.json"),
        (2, "evidence-consent-002.json"),
    ]


async def test_lost_commit_reply_of_a_start_is_not_retried(db: Database, relay: TcpRelay) -> None:
    """start_session cannot tell its own earlier start: in doubt, it raises, applied once."""
    session_id = await waiting(db)
    relay.lose_reply_to(COMMIT)
    with pytest.raises(StorageUnavailable) as info:
        await db.start_session(session_id, agent_name="A1", started_at=T0, recording_dir=None)
    assert info.value.in_doubt
    assert relay.lost == 1
    detail = await db.get_session(session_id)
    assert str(detail.session.status) == "active"
    assert detail.session.recording_parts == 1


async def test_unreachable_database_is_waited_out(db: Database, relay: TcpRelay) -> None:
    session_id = await waiting(db)
    assert not db.health.degraded
    await relay.cut()
    start = asyncio.create_task(
        db.start_session(session_id, agent_name="A1", started_at=T0, recording_dir=None)
    )
    while db.health.waiting == 0:
        await asyncio.sleep(0.02)
    health = db.health
    assert health.degraded and health.failing_since is not None
    assert health.last_error == "ConnectionRefusedError"
    await relay.start()
    view = await start
    assert str(view.status) == "active"
    assert not db.health.degraded
    assert db.health.waiting == 0


async def test_errors_of_the_work_are_not_retried(db: Database) -> None:
    with pytest.raises(NotFound):
        await db.start_session("no-such", agent_name="A1", started_at=T0, recording_dir=None)
    assert db.health.retries == 0
    assert not db.health.degraded


async def test_an_unreachable_database_fails_once_the_time_is_up(
    postgres_target: Target, relay: TcpRelay
) -> None:
    url = str(URL(postgres_target.url).with_port(relay.port))
    await relay.cut()
    database = Database(url, schema=postgres_target.schema, retry=RetryPolicy(total_s=1.0))
    try:
        with pytest.raises(StorageUnavailable) as info:
            await database.list_sessions()
        assert info.value.transient and not info.value.in_doubt
        assert database.health.retries >= 1
        assert database.health.failing_since is not None
        assert database.health.waiting == 0
    finally:
        await database.close()


def test_every_operation_goes_through_the_retries() -> None:
    """Each public operation of Database's mixins (a new one too) is wrapped in one place."""
    lifecycle = {"start", "upgrade_schema", "schema_state", "close"}
    operations = [
        name
        for name, member in inspect.getmembers(Database, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in lifecycle
    ]
    assert {"add_workflow_event", "start_session", "authenticate"} <= set(operations)
    for name in operations:
        assert hasattr(getattr(Database, name), "__wrapped__"), name
