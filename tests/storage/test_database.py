"""Tests of storage.Database against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage import (
    Database,
    MediaKind,
    NotFound,
    Party,
    RecordingFileView,
    RetryPolicy,
    Role,
    SessionStatus,
    SessionView,
    StorageError,
    StorageUnavailable,
    normalise_url,
)

T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


async def new_session(
    db: Database, *, created_at: datetime = T0, id: str | None = None
) -> SessionView:
    """Create a waiting session, with a fresh id unless one is given."""
    return await db.create_session(
        id=id or uuid.uuid4().hex,
        service="account-opening",
        branch="central",
        kiosk_name="kiosk-1",
        flow="account_opening",
        workflow_state="idle",
        created_at=created_at,
    )


def assert_utc(value: datetime | None) -> None:
    """The value is an aware datetime in UTC."""
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/lib/dualrec.db", "sqlite+aiosqlite:///var/lib/dualrec.db"),
        ("sqlite:////abs/path.db", "sqlite+aiosqlite:////abs/path.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://u:p@db:5432/dualrec", "postgresql+asyncpg://u:p@db:5432/dualrec"),
        ("postgres://u@db/dualrec?ssl=require", "postgresql+asyncpg://u@db/dualrec?ssl=require"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://u@db/dualrec", "postgresql+asyncpg://u@db/dualrec"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://root:hunter2@db/dualrec", "postgresql+psycopg2://db/x"])
def test_normalise_url_rejects_other_schemes_without_leaking_the_url(url: str) -> None:
    scheme = url.partition("://")[0]
    expected = re.escape(f"unsupported database URL scheme '{scheme}'")
    with pytest.raises(StorageError, match=expected) as info:
        normalise_url(url)
    assert "hunter2" not in str(info.value)


def test_normalise_url_rejects_a_url_without_scheme() -> None:
    with pytest.raises(StorageError, match="no scheme"):
        normalise_url("/var/lib/dualrec.db")


def test_schema_is_postgres_only_and_must_be_an_identifier(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="only supported on PostgreSQL"):
        Database(f"sqlite:///{tmp_path / 'x.db'}", schema="s")
    with pytest.raises(StorageError, match="invalid schema name"):
        Database("postgresql://u@127.0.0.1/x", schema='x"; drop table credentials; --')


async def test_unreachable_sqlite_path_is_storage_unavailable(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    with pytest.raises(StorageUnavailable) as info:
        async with database:
            pass
    assert isinstance(info.value, ConnectionError)
    assert info.value.__cause__ is not None
    # After a failed connect aiosqlite stops its worker thread without awaiting it;
    # let it finish while the loop is open, or it reports to a closed loop.
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5)


async def test_unreachable_postgres_is_storage_unavailable() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    database = Database("postgresql://postgres@127.0.0.1:1/test", retry=RetryPolicy(total_s=0.5))
    try:
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            await database.start()
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            await database.list_sessions()
    finally:
        await database.close()


async def test_add_and_authenticate_credential(db: Database) -> None:
    before = datetime.now(UTC)
    token = await db.add_credential("agent", "alice")
    assert len(token) >= 43
    credential = await db.authenticate(token)
    assert credential is not None
    assert credential.role is Role.AGENT
    assert (credential.name, credential.branch, credential.revoked_at) == ("alice", None, None)
    assert_utc(credential.created_at)
    assert before - timedelta(seconds=1) <= credential.created_at <= datetime.now(UTC)
    assert await db.authenticate(token + "x") is None
    assert await db.authenticate("") is None


async def test_tokens_are_unique_per_credential(db: Database) -> None:
    tokens = {await db.add_credential(role, f"name-{role}") for role in Role}
    credentials = [await db.authenticate(token) for token in tokens]
    assert sorted(c.role for c in credentials if c is not None) == sorted(Role)


async def test_duplicate_credential_is_refused(db: Database) -> None:
    await db.add_credential("supervisor", "carol")
    with pytest.raises(StorageError, match="'carol' is already used by a supervisor account"):
        await db.add_credential("supervisor", "carol", branch="north")


async def test_credential_role_and_name_are_validated(db: Database) -> None:
    with pytest.raises(StorageError, match="invalid role 'root'; expected one of kiosk, agent"):
        await db.add_credential("root", "mallory")
    with pytest.raises(StorageError, match="must not be empty"):
        await db.add_credential("agent", "  ")


async def test_revoke_credential(db: Database) -> None:
    token = await db.add_credential("auditor", "dave")
    other = await db.add_credential("agent", "erin")
    await db.revoke_credential("auditor", "dave")
    assert await db.authenticate(token) is None
    assert await db.authenticate(other) is not None
    await db.revoke_credential("auditor", "dave")  # idempotent
    with pytest.raises(NotFound, match="admin credential 'dave' not found"):
        await db.revoke_credential("admin", "dave")


async def test_session_lifecycle_with_events(db: Database) -> None:
    created = await new_session(db, created_at=T0.astimezone(SHANGHAI))
    assert (created.status, created.created_at) == (SessionStatus.WAITING, T0)
    assert_utc(created.created_at)
    assert (created.agent_name, created.started_at, created.recording_dir) == (None, None, None)

    started_at, recording_dir = T0 + timedelta(seconds=20), f"2025/03/01/{created.id}"
    started = await db.start_session(
        created.id, agent_name="alice", started_at=started_at, recording_dir=recording_dir
    )
    assert (started.status, started.agent_name) == (SessionStatus.ACTIVE, "alice")
    assert started.started_at == started_at

    steps = [("identify", "idle", "identity_check"), ("confirm", "identity_check", "disclosure")]
    for n, (event, source, target) in enumerate(steps, start=1):
        recorded = await db.add_workflow_event(
            created.id,
            event=event,
            source=source,
            target=target,
            actor="alice",
            at=(T0 + timedelta(seconds=30 * n)).astimezone(SHANGHAI),
            offset_ms=30_000 * n,
            data={"step": n, "ok": True},
        )
        assert (recorded.seq, recorded.event, recorded.target) == (n, event, target)
        assert recorded.at == T0 + timedelta(seconds=30 * n)
        assert_utc(recorded.at)
    await db.add_workflow_event(
        created.id,
        event="hangup",
        source="disclosure",
        target="aborted",
        actor="kiosk-1",
        at=T0 + timedelta(minutes=2),
        offset_ms=None,
        reason="customer left",
    )

    ended = await db.end_session(
        created.id, ended_at=T0 + timedelta(minutes=3), end_reason="customer hung up"
    )
    assert (ended.status, ended.end_reason) == (SessionStatus.ENDED, "customer hung up")

    detail = await db.get_session(created.id)
    session = detail.session
    assert session.status is SessionStatus.ENDED
    assert session.workflow_state == "aborted"
    assert session.recording_dir == recording_dir
    for value in (session.created_at, session.started_at, session.ended_at):
        assert_utc(value)
    assert session.created_at == T0  # microseconds survive
    assert session.ended_at == T0 + timedelta(minutes=3)
    assert [e.seq for e in detail.events] == [1, 2, 3]
    assert [e.event for e in detail.events] == ["identify", "confirm", "hangup"]
    assert (detail.events[0].data, detail.events[0].offset_ms) == ({"step": 1, "ok": True}, 30_000)
    assert (detail.events[2].offset_ms, detail.events[2].reason) == (None, "customer left")
    assert detail.events[2].data == {}
    for recorded_event in detail.events:
        assert_utc(recorded_event.at)
    assert detail.files == ()


async def test_event_seq_is_per_session_and_safe_under_concurrency(db: Database) -> None:
    first, second = await new_session(db), await new_session(db)

    async def add(session_id: str, n: int) -> int:
        recorded = await db.add_workflow_event(
            session_id, event=f"e{n}", source="a", target=f"s{n}", actor="x", at=T0, offset_ms=n
        )
        return recorded.seq

    seqs = await asyncio.gather(*(add(first.id, n) for n in range(8)))
    assert sorted(seqs) == list(range(1, 9))
    assert await add(second.id, 0) == 1


async def test_illegal_session_transitions_name_the_status(db: Database) -> None:
    created = await new_session(db)
    await db.start_session(created.id, agent_name="alice", started_at=T0, recording_dir=None)
    with pytest.raises(StorageError, match=f"cannot start session '{created.id}' in status"):
        await db.start_session(created.id, agent_name="bob", started_at=T0, recording_dir=None)
    await db.end_session(created.id, ended_at=T0, end_reason="done", status="failed")
    with pytest.raises(StorageError, match='in status "failed"'):
        await db.end_session(created.id, ended_at=T0, end_reason="again")
    with pytest.raises(StorageError, match="cannot end a session with status"):
        await db.end_session(created.id, ended_at=T0, end_reason="x", status="active")
    with pytest.raises(StorageError, match="invalid end status"):
        await db.end_session(created.id, ended_at=T0, end_reason="x", status="closed")


async def test_duplicate_session_id_is_refused(db: Database) -> None:
    created = await new_session(db)
    with pytest.raises(StorageError, match=f"session '{created.id}' already exists"):
        await new_session(db, id=created.id)


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StorageError, match="naive datetime"):
        await new_session(db, created_at=datetime(2025, 3, 1, 9, 30))
    assert await db.list_sessions() == []


async def test_unknown_session_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="session 'nope' not found") as info:
        await db.get_session("nope")
    assert isinstance(info.value, LookupError)
    assert (info.value.kind, info.value.key) == ("session", "nope")
    with pytest.raises(NotFound):
        await db.add_workflow_event(
            "nope", event="e", source="a", target="b", actor="x", at=T0, offset_ms=None
        )
    with pytest.raises(NotFound):
        await db.start_session("nope", agent_name="a", started_at=T0, recording_dir=None)
    with pytest.raises(NotFound):
        await db.end_session("nope", ended_at=T0, end_reason="x")


async def save_file(
    db: Database,
    session_id: str,
    *,
    party: str = "kiosk",
    kind: str = "video",
    seq: int = 0,
    bytes: int = 0,
    sha256: str | None = None,
    frames: int = 0,
    end_ms: int = 0,
    closed: bool = False,
) -> RecordingFileView:
    """Save a segment whose path and codec follow from its key."""
    return await db.save_recording_file(
        session_id,
        party=party,
        kind=kind,
        seq=seq,
        path=f"{session_id}/{party}-{kind}-{seq:04d}.webm",
        codec="opus" if kind == "audio" else "vp8",
        bytes=bytes,
        sha256=sha256,
        frames=frames,
        start_ms=60_000 * seq,
        end_ms=end_ms,
        closed=closed,
    )


async def test_recording_file_upsert(db: Database) -> None:
    created = await new_session(db)
    opened = await save_file(db, created.id)
    assert (opened.bytes, opened.sha256, opened.closed) == (0, None, False)
    closed = await save_file(
        db,
        created.id,
        party=Party.KIOSK,
        kind=MediaKind.VIDEO,
        bytes=1_048_576,
        sha256="ab" * 32,
        frames=1800,
        end_ms=60_000,
        closed=True,
    )
    assert closed.id == opened.id
    assert (closed.bytes, closed.frames, closed.end_ms) == (1_048_576, 1800, 60_000)
    assert (closed.sha256, closed.closed) == ("ab" * 32, True)
    assert closed.path == f"{created.id}/kiosk-video-0000.webm"
    for party, kind, seq in [("agent", "audio", 0), ("kiosk", "video", 1), ("kiosk", "audio", 0)]:
        await save_file(db, created.id, party=party, kind=kind, seq=seq, bytes=10)

    files = (await db.get_session(created.id)).files
    assert [(f.party, f.kind, f.seq) for f in files] == [
        (Party.AGENT, MediaKind.AUDIO, 0),
        (Party.KIOSK, MediaKind.AUDIO, 0),
        (Party.KIOSK, MediaKind.VIDEO, 0),
        (Party.KIOSK, MediaKind.VIDEO, 1),
    ]
    assert files[2] == closed
    assert files[3].start_ms == 60_000
    assert all(f.session_id == created.id for f in files)


async def test_recording_file_is_validated(db: Database) -> None:
    created = await new_session(db)
    with pytest.raises(StorageError, match="invalid party 'teller'"):
        await save_file(db, created.id, party="teller")
    with pytest.raises(StorageError, match="invalid media kind 'screen'"):
        await save_file(db, created.id, kind="screen")
    with pytest.raises(StorageError, match="seq must be >= 0"):
        await save_file(db, created.id, seq=-1)
    with pytest.raises(NotFound, match="session 'nope'"):
        await save_file(db, "nope")
    assert (await db.get_session(created.id)).files == ()


async def test_list_sessions_newest_first_with_limit_and_status(db: Database) -> None:
    made = [await new_session(db, created_at=T0 + timedelta(minutes=n)) for n in range(5)]
    await db.start_session(made[1].id, agent_name="a", started_at=T0, recording_dir=None)
    await db.end_session(made[2].id, ended_at=T0, end_reason="abandoned")

    newest_first = [s.id for s in reversed(made)]
    assert [s.id for s in await db.list_sessions()] == newest_first
    assert [s.id for s in await db.list_sessions(limit=2)] == newest_first[:2]
    assert [s.id for s in await db.list_sessions(status="active")] == [made[1].id]
    assert [s.id for s in await db.list_sessions(status=SessionStatus.ENDED)] == [made[2].id]
    with pytest.raises(StorageError, match="invalid status 'gone'"):
        await db.list_sessions(status="gone")
    with pytest.raises(StorageError, match="limit must be >= 1"):
        await db.list_sessions(limit=0)


async def test_open_sessions_and_fail_them_after_a_crash(
    new_database: Callable[[], Database],
) -> None:
    async with new_database() as before_crash:
        waiting = await new_session(before_crash, created_at=T0 + timedelta(minutes=1))
        active = await new_session(before_crash, created_at=T0)
        done = await new_session(before_crash, created_at=T0 + timedelta(minutes=2))
        await before_crash.start_session(
            active.id, agent_name="alice", started_at=T0, recording_dir="r"
        )
        await before_crash.end_session(done.id, ended_at=T0, end_reason="done")

    crash_at = (T0 + timedelta(hours=1)).astimezone(SHANGHAI)
    async with new_database() as after_crash:
        assert [s.id for s in await after_crash.open_sessions()] == [active.id, waiting.id]
        assert await after_crash.fail_open_sessions("server restarted", crash_at) == 2
        assert await after_crash.open_sessions() == []
        assert await after_crash.fail_open_sessions("server restarted", crash_at) == 0

        for session_id in (active.id, waiting.id):
            failed = (await after_crash.get_session(session_id)).session
            assert (failed.status, failed.end_reason) == (SessionStatus.FAILED, "server restarted")
            assert failed.ended_at == crash_at
            assert_utc(failed.ended_at)
        untouched = (await after_crash.get_session(done.id)).session
        assert (untouched.status, untouched.end_reason) == (SessionStatus.ENDED, "done")
