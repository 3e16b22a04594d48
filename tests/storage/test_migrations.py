"""Schema migrations on real SQLite and PostgreSQL: empty, legacy and current databases."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import storage.access_log  # noqa: F401  (its table is part of the schema)
from storage import Base, StorageError, normalise_url
from storage.migrations import SchemaUpgrade, head_revision

from .conftest import Target

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
_R = TypeVar("_R")


async def on_connection(target: Target, fn: Callable[[sa.Connection], _R]) -> _R:
    """Run ``fn`` in one committed transaction on a plain connection to the target."""
    connect_args: dict[str, Any] = {}
    if target.schema is not None:
        connect_args["server_settings"] = {"search_path": target.schema}
    engine = create_async_engine(
        normalise_url(target.url), poolclass=NullPool, connect_args=connect_args
    )
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(fn)
    finally:
        await engine.dispose()


def schema_differences(connection: sa.Connection) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def first_version_schema() -> sa.MetaData:
    """The tables as the first version made them: no parts, no evidence, no access log."""
    metadata = sa.MetaData()
    sa.Table(
        "credentials",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("branch", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("role", "name", name="uq_credentials_role_name"),
        sa.CheckConstraint(
            "role IN ('kiosk', 'agent', 'supervisor', 'auditor', 'admin')",
            name="ck_credentials_role",
        ),
        sa.Index("ix_credentials_token_sha256", "token_sha256", unique=True),
    )
    sa.Table(
        "sessions",
        metadata,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("service", sa.String(50), nullable=False),
        sa.Column("branch", sa.String(100)),
        sa.Column("kiosk_name", sa.String(100), nullable=False),
        sa.Column("agent_name", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.String(200)),
        sa.Column("flow", sa.String(50), nullable=False),
        sa.Column("workflow_state", sa.String(50), nullable=False),
        sa.Column("recording_dir", sa.String(300)),
        # No "interrupted" yet: sessions were not resumable.
        sa.CheckConstraint(
            "status IN ('waiting', 'active', 'ended', 'failed')", name="ck_sessions_status"
        ),
        sa.Index("ix_sessions_status", "status"),
        sa.Index("ix_sessions_created_at", "created_at"),
    )
    sa.Table(
        "recording_files",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey(
                "sessions.id", ondelete="CASCADE", name="fk_recording_files_session_id_sessions"
            ),
            nullable=False,
        ),
        sa.Column("party", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=False),
        sa.Column("end_ms", sa.Integer, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        # The key without part that refuses the segments of a resumed call.
        sa.UniqueConstraint(
            "session_id",
            "party",
            "kind",
            "seq",
            name="uq_recording_files_session_id_party_kind_seq",
        ),
        sa.CheckConstraint("party IN ('kiosk', 'agent')", name="ck_recording_files_party"),
        sa.CheckConstraint("kind IN ('audio', 'video')", name="ck_recording_files_kind"),
    )
    sa.Table(
        "workflow_events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey(
                "sessions.id", ondelete="CASCADE", name="fk_workflow_events_session_id_sessions"
            ),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("event", sa.String(50), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("target", sa.String(50), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offset_ms", sa.Integer),
        sa.Column("reason", sa.String(500)),
        sa.Column("data", sa.JSON, nullable=False),
        sa.UniqueConstraint("session_id", "seq", name="uq_workflow_events_session_id_seq"),
    )
    return metadata


def build_first_version_database(connection: sa.Connection) -> None:
    """The first version's tables holding one active call with a segment and an event."""
    metadata = first_version_schema()
    metadata.create_all(connection)
    tables = metadata.tables
    connection.execute(
        tables["sessions"].insert(),
        {
            "id": "legacy1",
            "service": "card_opening",
            "branch": "central",
            "kiosk_name": "kiosk-1",
            "agent_name": "agent-1",
            "status": "active",
            "created_at": T0,
            "started_at": T0,
            "flow": "card_opening",
            "workflow_state": "consent",
            "recording_dir": "legacy1",
        },
    )
    connection.execute(
        tables["recording_files"].insert(),
        {
            "session_id": "legacy1",
            "party": "kiosk",
            "kind": "video",
            "seq": 0,
            "path": "legacy1/kiosk-video-0000.webm",
            "codec": "vp8",
            "bytes": 1234,
            "sha256": "a" * 64,
            "frames": 150,
            "start_ms": 0,
            "end_ms": 10_000,
            "closed": True,
        },
    )
    connection.execute(
        tables["workflow_events"].insert(),
        {
            "session_id": "legacy1",
            "seq": 1,
            "event": "start",
            "source": "idle",
            "target": "consent",
            "actor": "agent-1",
            "at": T0,
            "offset_ms": 0,
            "data": {"note": "before migrations"},
        },
    )


def version_rows(connection: sa.Connection) -> list[str]:
    """The rows of alembic_version."""
    return list(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))


async def test_empty_database_upgrades_to_head_matching_the_models(target: Target) -> None:
    head = head_revision()
    async with target.database() as db:
        assert await db.upgrade_schema() == SchemaUpgrade(head, head)
        assert (await db.schema_state()).describe() == f"{head} (up to date)"
    assert await on_connection(target, schema_differences) == []
    assert await on_connection(target, version_rows) == [head]


async def test_upgrade_reports_and_is_a_no_op_the_second_time(target: Target) -> None:
    head = head_revision()
    db = target.database()
    try:
        first = await db.upgrade_schema()
        assert first == SchemaUpgrade(None, head)
        assert first.describe() == f"database upgraded: empty -> {head}"
        session = await db.create_session(
            id="s1",
            service="card_opening",
            branch=None,
            kiosk_name="kiosk-1",
            flow="card_opening",
            workflow_state="idle",
            created_at=T0,
        )
        second = await db.upgrade_schema()
        assert second == SchemaUpgrade(head, head) and not second.changed
        assert second.describe() == f"database is up to date ({head})"
        await db.start()
        assert (await db.get_session("s1")).session == session
    finally:
        await db.close()
    assert await on_connection(target, version_rows) == [head]


async def test_first_version_database_is_adopted_and_takes_a_part_2_recording(
    target: Target,
) -> None:
    await on_connection(target, build_first_version_database)
    db = target.database()
    try:
        result = await db.upgrade_schema()
        assert result == SchemaUpgrade(None, head_revision(), adopted=True)
        assert result.describe() == (
            f"database upgraded: unversioned (released schema) -> {head_revision()}"
        )
        # The old rows are kept, with the values the later columns give them.
        detail = await db.get_session("legacy1")
        assert detail.session.recording_parts == 1
        assert detail.session.workflow_context == {}
        assert detail.session.review_status == "unreviewed"
        assert detail.session.legal_hold is False
        (old_file,) = detail.files
        assert (old_file.part, old_file.party, old_file.kind, old_file.seq) == (
            1,
            "kiosk",
            "video",
            0,
        )
        assert old_file.sha256 == "a" * 64 and old_file.closed
        (event,) = detail.events
        assert event.data == {"note": "before migrations"} and event.context == {}
        assert event.part is None
        # The call is cut by a restart ("interrupted" is a status now) and resumed...
        assert await db.interrupt_open_sessions("restart", T0) == (["legacy1"], 0)
        resumed = await db.start_session(
            "legacy1", agent_name="agent-1", started_at=T0, recording_dir=None
        )
        assert resumed.recording_parts == 2
        # ...and part 2 records a segment with the same (party, kind, seq) as part 1.
        await db.save_recording_file(
            "legacy1",
            part=2,
            party="kiosk",
            kind="video",
            seq=0,
            path="legacy1/part-2/kiosk-video-0000.webm",
            codec="vp8",
            bytes=99,
            sha256=None,
            frames=10,
            start_ms=0,
            end_ms=1000,
            closed=False,
        )
        files = (await db.get_session("legacy1")).files
        assert [(f.part, f.path) for f in files] == [
            (1, "legacy1/kiosk-video-0000.webm"),
            (2, "legacy1/part-2/kiosk-video-0000.webm"),
        ]
        assert (await db.upgrade_schema()).describe() == (
            f"database is up to date ({head_revision()})"
        )
    finally:
        await db.close()
    assert await on_connection(target, schema_differences) == []

    # The recreated tables still cascade a session's deletion to its files and events.
    def delete_session(connection: sa.Connection) -> list[int]:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        connection.execute(sa.text("DELETE FROM sessions WHERE id = 'legacy1'"))
        return [
            connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("recording_files", "workflow_events")
        ]

    assert await on_connection(target, delete_session) == [0, 0]


async def test_unknown_revision_is_refused(target: Target) -> None:
    async with target.database():
        pass

    def from_the_future(connection: sa.Connection) -> None:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))

    await on_connection(target, from_the_future)
    with pytest.raises(StorageError, match="revision '0999', which this version of dualrec"):
        async with target.database():
            pass


def dualrec(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dualrec ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "dualrec", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_command(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "var")
    head = head_revision()
    first = dualrec("db", "upgrade", "--data-dir", data_dir)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"database upgraded: empty -> {head}\n"
    second = dualrec("db", "upgrade", "--data-dir", data_dir)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"database is up to date ({head})\n"
    current = dualrec("db", "current", "--data-dir", data_dir)
    assert current.returncode == 0, current.stderr
    assert current.stdout == f"database schema {head} (up to date)\n"


def test_db_command_never_prints_the_password() -> None:
    # Nothing listens on port 9: the connection is refused.
    url = f"postgresql://dualrec:{uuid.uuid4().hex}@127.0.0.1:9/dualrec"
    result = dualrec("db", "upgrade", "--database-url", url)
    assert result.returncode == 1
    assert "dualrec db upgrade: database unavailable" in result.stderr
    assert url.split(":")[2].split("@")[0] not in result.stdout + result.stderr
