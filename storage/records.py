"""Appending to a session's records: workflow events, evidence and recording files.

Contexts and event data are sealed here on their way in (``storage.personal``): the ID
number is stored only encrypted, with its keyed search token and last four on the session.
Reasons are bounded and their ID numbers masked before they are stored.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common import MediaKind, Party

from .errors import NotFound, StorageError
from .models import (
    CallSession,
    EvidenceItem,
    RecordingFile,
    WorkflowEvent,
    parse_enum,
)
from .personal import SEALED_KEYS, PersonalData, normalise_id_number, stored_reason
from .views import EvidenceItemView, RecordingFileView, WorkflowEventView

logger = logging.getLogger(__name__)


async def locked_session(session: AsyncSession, id: str) -> CallSession:
    """The session row, locked for update (PostgreSQL) until the transaction ends."""
    row = await session.get(CallSession, id, with_for_update=True)
    if row is None:
        raise NotFound("session", id)
    return row


def note_customer(row: CallSession, personal: PersonalData, context: dict[str, Any]) -> None:
    """Keep the search token and last four of the context's clear ID number on the session."""
    for key in SEALED_KEYS:
        number = context.get(key)
        if isinstance(number, str) and number.strip() and "*" not in number:
            row.customer_id_hmac = personal.search_token(number)
            row.customer_id_last4 = normalise_id_number(number)[-4:]


class SessionRecords:
    """The appending half of Database (a mixin: Database provides the transactions)."""

    #: Seals the personal data of every context and event written (set by Database).
    personal: PersonalData

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        raise NotImplementedError

    async def workflow_context(self, session_id: str) -> dict[str, Any]:
        """The session's stored workflow context, opened: for a call that resumes."""
        async with self._transaction() as session:
            row = await session.get(CallSession, session_id)
            if row is None:
                raise NotFound("session", session_id)
            stored = dict(row.workflow_context or {})
        return self.personal.open_context(stored)

    async def add_workflow_event(
        self,
        session_id: str,
        *,
        event: str,
        source: str,
        target: str,
        actor: str,
        at: datetime,
        offset_ms: int | None,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        part: int | None = None,
    ) -> WorkflowEventView:
        """Append the session's next workflow event and move its workflow_state to ``target``.

        With ``context`` the session's stored context becomes it, in the same transaction.
        Its ID number and that of ``data`` are stored sealed; ``reason`` bounded and masked.
        If the session's last event is this one (same event, step, actor, part and instant),
        it was already stored (by an attempt whose commit was lost) and is returned as is.
        """
        if reason is not None:
            reason = stored_reason("reason", reason)
        async with self._transaction() as session:
            # The row lock serialises concurrent appends to one session on PostgreSQL
            # (SQLite transactions are already serialised by BEGIN IMMEDIATE).
            row = await locked_session(session, session_id)
            last = await session.scalar(
                select(WorkflowEvent)
                .where(WorkflowEvent.session_id == session_id)
                .order_by(WorkflowEvent.seq.desc())
                .limit(1)
            )
            if last is not None and (
                (last.event, last.source, last.target, last.actor, last.at, last.part)
                == (event, source, target, actor, at, part)
            ):
                return last.view()
            record = WorkflowEvent(
                session_id=session_id,
                seq=(0 if last is None else last.seq) + 1,
                event=event,
                source=source,
                target=target,
                actor=actor,
                at=at,
                offset_ms=offset_ms,
                reason=reason,
                data=self.personal.seal_context(data or {}),
                context=self.personal.seal_context(context or {}),
                part=part,
            )
            session.add(record)
            row.workflow_state = target
            if context is not None:
                row.workflow_context = dict(record.context)
                note_customer(row, self.personal, context)
            await session.flush()
            view = record.view()
        logger.info("session %s: workflow %s -> %s on %s", session_id, source, target, event)
        return view

    async def save_recording_file(
        self,
        session_id: str,
        *,
        party: str,
        kind: str,
        seq: int,
        path: str,
        codec: str,
        bytes: int,
        sha256: str | None,
        frames: int,
        start_ms: int,
        end_ms: int,
        closed: bool,
        part: int = 1,
    ) -> RecordingFileView:
        """Insert or update the file of (session, part, party, kind, seq)."""
        track = (parse_enum(Party, party, "party"), parse_enum(MediaKind, kind, "media kind"))
        if seq < 0:
            raise StorageError(f"segment seq must be >= 0, got {seq}")
        async with self._transaction() as session:
            await locked_session(session, session_id)
            row = await session.scalar(
                select(RecordingFile).where(
                    RecordingFile.session_id == session_id,
                    RecordingFile.part == part,
                    RecordingFile.party == track[0],
                    RecordingFile.kind == track[1],
                    RecordingFile.seq == seq,
                )
            )
            if row is None:
                row = RecordingFile(
                    session_id=session_id, part=part, party=track[0], kind=track[1], seq=seq
                )
                session.add(row)
            row.path, row.codec, row.bytes, row.sha256 = path, codec, bytes, sha256
            row.frames, row.start_ms, row.end_ms, row.closed = frames, start_ms, end_ms, closed
            await session.flush()
            return row.view()

    async def add_evidence(
        self,
        session_id: str,
        *,
        part: int,
        step: str,
        kind: str,
        file: str | None,
        sha256: str | None,
        offset_ms: int | None,
        at: datetime,
        provided_by: str,
        context: dict[str, Any] | None = None,
        seq: int | None = None,
    ) -> EvidenceItemView:
        """Append one evidence item; with ``context`` the session's context becomes it.

        If the item is stored already (same seq, or the last one when no seq is given, with
        the same kind, step, file, hash and instant), by an attempt whose commit was lost,
        it is returned as is.
        """
        if seq is not None and seq < 1:
            raise StorageError(f"evidence seq must be >= 1, got {seq}")
        async with self._transaction() as session:
            row = await locked_session(session, session_id)
            query = select(EvidenceItem).where(EvidenceItem.session_id == session_id)
            query = query.order_by(EvidenceItem.seq.desc()).limit(1)
            if seq is not None:
                query = query.where(EvidenceItem.seq == seq)
            stored = await session.scalar(query)
            if stored is not None and (
                (stored.kind, stored.step, stored.file, stored.sha256, stored.at, stored.part)
                == (kind, step, file, sha256, at, part)
            ):
                return stored.view()
            if seq is None:
                seq = await self._next_evidence_seq(session, session_id)
            item = EvidenceItem(
                session_id=session_id,
                seq=seq,
                part=part,
                step=step,
                kind=kind,
                file=file,
                sha256=sha256,
                offset_ms=offset_ms,
                at=at,
                provided_by=provided_by,
            )
            session.add(item)
            if context is not None:
                row.workflow_context = self.personal.seal_context(context)
                note_customer(row, self.personal, context)
            try:
                await session.flush()
            except sa_exc.IntegrityError as exc:
                raise StorageError(f"evidence {seq} of session {session_id!r} exists") from exc
            view = item.view()
        logger.info("session %s: evidence %d %s in %s", session_id, seq, kind, step)
        return view

    async def next_evidence_seq(self, session_id: str) -> int:
        """The seq the session's next evidence item will get (names its file before saving)."""
        async with self._transaction() as session:
            return await self._next_evidence_seq(session, session_id)

    @staticmethod
    async def _next_evidence_seq(session: AsyncSession, session_id: str) -> int:
        last = await session.scalar(
            select(func.max(EvidenceItem.seq)).where(EvidenceItem.session_id == session_id)
        )
        return (last or 0) + 1
