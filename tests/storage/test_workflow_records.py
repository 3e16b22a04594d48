"""Workflow records: context with every change, evidence items, interrupted and resumed sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from storage import Database, SessionStatus, StorageError

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


async def started(db: Database) -> str:
    """An active session (its first recording part started)."""
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
    await db.start_session(session_id, agent_name="A1", started_at=T0, recording_dir=session_id)
    return session_id


async def test_context_is_stored_with_each_event_and_each_piece_of_evidence(
    db: Database,
) -> None:
    session_id = await started(db)
    first = {"name": "张伟", "id_number": "110105198506151236"}
    await db.add_workflow_event(
        session_id,
        event="identity_verified",
        source="identity_check",
        target="consent",
        actor="A1",
        at=T0,
        offset_ms=1500,
        data={"name": "张伟"},
        context=first,
        part=1,
    )
    second = {**first, "evidence": {"consent": {"consent": "evidence-consent-002.json#ab"}}}
    assert await db.next_evidence_seq(session_id) == 1
    for seq, kind in ((1, "id_photo"), (2, "consent")):
        item = await db.add_evidence(
            session_id,
            part=1,
            step="consent" if seq == 2 else "identity_check",
            kind=kind,
            file=f"evidence-x-{seq:03d}.json",
            sha256="ab" * 32,
            offset_ms=seq * 1000,
            at=T0,
            provided_by="K1",
            context=second if seq == 2 else None,
            seq=seq,
        )
        assert (item.seq, item.kind) == (seq, kind)
    with pytest.raises(StorageError, match="evidence 2 of session"):
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
            seq=2,
        )
    detail = await db.get_session(session_id)
    assert detail.session.workflow_state == "consent"
    # Views carry the ID number masked; the stored context opens to what was written.
    masked = {"id_number": "**************1236"}
    assert detail.session.workflow_context == {**second, **masked}
    assert await db.workflow_context(session_id) == second
    [event] = detail.events
    assert (event.context, event.part, event.data) == ({**first, **masked}, 1, {"name": "张伟"})
    assert [(e.seq, e.kind, e.offset_ms) for e in detail.evidence] == [
        (1, "id_photo", 1000),
        (2, "consent", 2000),
    ]
    assert await db.next_evidence_seq(session_id) == 3


async def test_a_call_cut_by_a_restart_is_interrupted_and_resumes_as_part_two(
    new_database: Callable[[], Database],
) -> None:
    async with new_database() as before:
        session_id = await started(before)
        await before.add_workflow_event(
            session_id,
            event="identity_verified",
            source="identity_check",
            target="consent",
            actor="A1",
            at=T0,
            offset_ms=1500,
            context={"name": "张伟"},
            part=1,
        )
        waiting = uuid.uuid4().hex
        await before.create_session(
            id=waiting,
            service="card_opening",
            branch=None,
            kiosk_name="K2",
            flow="card_opening",
            workflow_state="identity_check",
            created_at=T0,
        )
    async with new_database() as after:
        restart = T0 + timedelta(hours=1)
        assert await after.interrupt_open_sessions("server restarted", restart) == (
            [session_id],
            1,
        )
        cut = (await after.get_session(session_id)).session
        assert (cut.status, cut.end_reason, cut.ended_at) == (
            SessionStatus.INTERRUPTED,
            "server restarted",
            None,
        )
        assert (cut.workflow_state, cut.workflow_context, cut.recording_parts) == (
            "consent",
            {"name": "张伟"},
            1,
        )
        assert (await after.get_session(waiting)).session.status == SessionStatus.FAILED
        # Resumed: active again, part 2, first start and folder kept; its segments numbered
        # from 0 again do not collide with part 1's.
        resumed = await after.start_session(
            session_id, agent_name="A2", started_at=restart, recording_dir="elsewhere"
        )
        assert (resumed.status, resumed.recording_parts, resumed.agent_name) == (
            SessionStatus.ACTIVE,
            2,
            "A2",
        )
        assert (resumed.started_at, resumed.recording_dir) == (T0, session_id)
        for part in (1, 2):
            await after.save_recording_file(
                session_id,
                party="kiosk",
                kind="video",
                seq=0,
                path=f"{session_id}/kiosk-video-0000.webm",
                codec="vp8",
                bytes=10,
                sha256=None,
                frames=1,
                start_ms=0,
                end_ms=10,
                closed=True,
                part=part,
            )
        detail = await after.get_session(session_id)
        assert [f.part for f in detail.files] == [1, 2]
        assert [f.part for f in detail.part_files(2)] == [2]


async def test_an_interrupted_session_may_be_ended(db: Database) -> None:
    session_id = await started(db)
    await db.interrupt_open_sessions("server restarted", T0)
    ended = await db.end_session(session_id, ended_at=T0, end_reason="kiosk left")
    assert ended.status == SessionStatus.ENDED
