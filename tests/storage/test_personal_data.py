"""ID numbers at rest: sealed in every stored context and event, searched by a keyed HMAC.

The rows are read back with plain SQL, as someone holding a copy of the database would.
"""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage import Database, PersonalData, StorageError, audit
from storage.audit import CustomerQuery, SearchFilters

from .conftest import Target
from .test_migrations import on_connection
from .test_workflow_records import started

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ID = "11010519491231002X"
MASKED = "**************002X"


async def session_with_identity(db: Database, reason: str | None = None) -> str:
    """An active session whose identity step recorded the customer's ID number."""
    session_id = await started(db)
    facts = {"name": "张伟", "id_number": ID.lower()}
    await db.add_workflow_event(
        session_id,
        event="identity_verified",
        source="identity_check",
        target="consent",
        actor="A1",
        at=T0,
        offset_ms=1500,
        reason=reason,
        data=dict(facts),
        context=dict(facts),
        part=1,
    )
    return session_id


def stored_rows(connection: sa.Connection) -> str:
    """Every row of the sessions and workflow events, as text."""
    rows = []
    for table in ("sessions", "workflow_events", "reviews"):
        rows += [dict(r) for r in connection.execute(sa.text(f"SELECT * FROM {table}")).mappings()]
    return json.dumps(rows, default=str, ensure_ascii=False)


async def test_the_id_number_is_stored_only_sealed_and_opens_for_a_resume(
    target: Target, db: Database
) -> None:
    session_id = await session_with_identity(db)
    await db.add_evidence(
        session_id,
        part=1,
        step="consent",
        kind="consent",
        file=None,
        sha256=None,
        offset_ms=None,
        at=T0,
        provided_by="K1",
        context={"name": "张伟", "id_number": ID, "evidence": {"consent": "x"}},
    )
    raw = await on_connection(target, stored_rows)
    for form in (ID, ID.lower(), hashlib.sha256(ID.encode()).hexdigest()):
        assert form not in raw
    assert "sealed" in raw and "002X" in raw
    detail = await db.get_session(session_id)
    # What pages are handed: masked as they showed it before.
    assert detail.session.workflow_context["id_number"] == MASKED
    assert detail.events[0].data["id_number"] == MASKED
    assert detail.events[0].context["id_number"] == MASKED
    assert (detail.session.customer_id_last4, detail.session.customer_id_hmac) == (
        "002X",
        db.personal.search_token(ID),
    )
    # Only a resume opens it, with the key it was sealed with.
    opened = await db.workflow_context(session_id)
    assert opened == {"name": "张伟", "id_number": ID, "evidence": {"consent": "x"}}
    async with Database(target.url, schema=target.schema) as other_key:
        with pytest.raises(StorageError, match='"id_number" was sealed with key'):
            await other_key.workflow_context(session_id)


async def test_search_by_the_full_number_needs_the_key(target: Target, db: Database) -> None:
    session_id = await session_with_identity(db)
    for typed in (ID, ID.lower(), " １１０１０５１９４９１２３１００２Ｘ "):
        filters = SearchFilters(customer=CustomerQuery.parse(typed))
        found = await audit.search(db, filters)
        assert [s.id for s in found.sessions] == [session_id], typed
        assert ID not in repr(filters)
    # The same database searched with another key finds nothing: the search column cannot
    # be tested against guesses without the key file.
    async with Database(target.url, schema=target.schema) as other_key:
        filters = SearchFilters(customer=CustomerQuery.parse(ID))
        assert (await audit.search(other_key, filters)).total == 0
        assert (
            await audit.search(other_key, SearchFilters(customer=CustomerQuery.parse("002X")))
        ).total == 1


async def test_note_session_facts_takes_no_masked_number(db: Database) -> None:
    session_id = await session_with_identity(db)
    masked = (await db.get_session(session_id)).session.workflow_context
    await audit.note_session_facts(db, session_id, masked, "completed")
    view = (await db.get_session(session_id)).session
    assert view.customer_id_hmac == db.personal.search_token(ID)


async def test_reasons_are_bounded_and_their_id_numbers_masked(
    target: Target, db: Database
) -> None:
    typed = "客户读出身份证 １１０１０５－１９４９１２３１－００２Ｘ"
    session_id = await session_with_identity(db, reason=typed)
    await db.end_session(session_id, ended_at=T0, end_reason=f"hung up: {ID[:6]} {ID[6:]}")
    await audit.add_review(
        db, session_id, verdict="fail", reasons="ID 1101-0519-4912-3100-2X read out", reviewer="r"
    )
    detail = await db.get_session(session_id)
    assert detail.events[0].reason == f"客户读出身份证 {MASKED}"
    assert detail.session.end_reason == f"hung up: {MASKED}"
    assert detail.reviews[0].reasons == f"ID {MASKED} read out"
    raw = await on_connection(target, stored_rows)
    assert "1949" not in raw and "１９４９" not in raw
    other = await session_with_identity(db)
    for write in (
        db.end_session(other, ended_at=T0, end_reason="x" * 501),
        audit.add_review(db, other, verdict="fail", reasons="x" * 501, reviewer="r"),
        db.add_workflow_event(
            other,
            event="consent_given",
            source="consent",
            target="terms",
            actor="A1",
            at=T0,
            offset_ms=None,
            reason="x" * 250_000,
        ),
    ):
        with pytest.raises(StorageError, match="longer than 500 characters"):
            await write


def test_the_key_file_is_made_private_once_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "personal-data.key"
    first = PersonalData.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = PersonalData.load_or_create(path)
    assert (again.key_id, again.search_token(ID)) == (first.key_id, first.search_token(ID))
    path.chmod(0o644)
    PersonalData.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("something else\n")
    with pytest.raises(StorageError, match="personal-data key"):
        PersonalData.load_or_create(path)


def test_a_sealed_value_moved_or_damaged_does_not_open() -> None:
    personal = PersonalData.ephemeral()
    sealed: dict[str, Any] = personal.seal_context({"id_number": ID, "nested": [{"id_number": ID}]})
    assert personal.open_context(sealed) == {"id_number": ID, "nested": [{"id_number": ID}]}
    assert personal.seal_context(sealed) == sealed  # sealing twice changes nothing
    with pytest.raises(StorageError, match="damaged or was moved"):
        personal.open_context({"other": sealed["id_number"]})
    broken = dict(sealed["id_number"], sealed=sealed["id_number"]["sealed"][:-6] + "AAAAAA")
    with pytest.raises(StorageError, match="damaged or was moved"):
        personal.open_context({"id_number": broken})


def database_at_0002_with_clear_rows(connection: sa.Connection) -> None:
    """A database at revision 0002 holding what it stored in clear: contexts and reasons."""
    from alembic import command

    from storage.migrations.runner import _config

    command.upgrade(_config(connection), "0002")
    facts = json.dumps({"name": "张伟", "id_number": ID})
    connection.execute(
        sa.text(
            "INSERT INTO sessions (id, service, kiosk_name, status, created_at, flow, "
            "workflow_state, workflow_context, recording_parts, end_reason, review_status, "
            "legal_hold, customer_id_sha256, customer_id_last4) VALUES ('s1', 'card_opening', "
            "'K1', 'ended', :t, 'card_opening', 'consent', :facts, 1, :why, 'unreviewed', "
            ":no, :sha, '002X')"
        ),
        {
            "t": T0,
            "facts": facts,
            "why": f"customer read {ID}",
            "no": False,
            "sha": hashlib.sha256(ID.encode()).hexdigest(),
        },
    )
    connection.execute(
        sa.text(
            "INSERT INTO workflow_events (session_id, seq, event, source, target, actor, at, "
            "reason, data, context, part) VALUES ('s1', 1, 'identity_verified', "
            "'identity_check', 'consent', 'A1', :t, :why, :facts, :facts, 1)"
        ),
        {"t": T0, "facts": facts, "why": f"ID {ID[:9]} {ID[9:]}"},
    )


async def test_the_upgrade_seals_the_rows_stored_in_clear(target: Target) -> None:
    await on_connection(target, database_at_0002_with_clear_rows)
    # Without the key nothing changes: the server's start, which has it, converts them.
    with pytest.raises(StorageError, match="needs the personal-data key"):
        async with Database(target.url, schema=target.schema, personal=None):
            pass
    assert ID in await on_connection(target, stored_rows)
    async with target.database() as db:
        raw = await on_connection(target, stored_rows)
        assert ID not in raw and hashlib.sha256(ID.encode()).hexdigest() not in raw
        assert await db.workflow_context("s1") == {"name": "张伟", "id_number": ID}
        detail = await db.get_session("s1")
        assert detail.session.end_reason == f"customer read {MASKED}"
        assert detail.events[0].reason == f"ID {MASKED}"
        assert detail.events[0].data == {"name": "张伟", "id_number": MASKED}
        found = await audit.search(db, SearchFilters(customer=CustomerQuery.parse(ID)))
        assert [s.id for s in found.sessions] == ["s1"]
