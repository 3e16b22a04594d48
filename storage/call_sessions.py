"""Call sessions: created waiting, started, ended, listed, and settled after a restart."""

from __future__ import annotations

import logging
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .errors import NotFound, StorageError
from .models import OPEN_STATUSES, CallSession, open_sessions_query, parse_enum
from .personal import stored_reason
from .records import locked_session
from .views import SessionDetail, SessionStatus, SessionView

logger = logging.getLogger(__name__)


class CallSessions:
    """The call-session half of Database (a mixin: Database provides the transactions)."""

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        raise NotImplementedError

    async def create_session(
        self,
        *,
        id: str,
        service: str,
        branch: str | None,
        kiosk_name: str,
        flow: str,
        workflow_state: str,
        created_at: datetime,
    ) -> SessionView:
        """Record a new waiting session."""
        async with self._transaction() as session:
            row = CallSession(
                id=id,
                service=service,
                branch=branch,
                kiosk_name=kiosk_name,
                status=SessionStatus.WAITING,
                created_at=created_at,
                flow=flow,
                workflow_state=workflow_state,
            )
            session.add(row)
            try:
                await session.flush()
            except sa_exc.IntegrityError as exc:
                raise StorageError(f"session {id!r} already exists") from exc
            view = row.view()
        logger.info("session %s: created for kiosk %r (%s)", id, kiosk_name, service)
        return view

    async def start_session(
        self, id: str, *, agent_name: str, started_at: datetime, recording_dir: str | None
    ) -> SessionView:
        """Mark a waiting (or interrupted) session active: its next recording part starts.

        A resumed session keeps its first start time and recording folder.
        """
        async with self._transaction() as session:
            row = await locked_session(session, id)
            previous = row.status
            if previous not in (SessionStatus.WAITING, SessionStatus.INTERRUPTED):
                raise StorageError(f'cannot start session {id!r} in status "{previous}"')
            row.status = SessionStatus.ACTIVE
            row.agent_name = agent_name
            row.recording_parts = (row.recording_parts or 0) + 1
            if previous == SessionStatus.WAITING:
                row.started_at = started_at
                row.recording_dir = recording_dir
            await session.flush()
            view = row.view()
        logger.info("session %s: %s -> active (agent %r)", id, previous, agent_name)
        return view

    async def end_session(
        self, id: str, *, ended_at: datetime, end_reason: str, status: str = "ended"
    ) -> SessionView:
        """Close an open (or interrupted) session as ended (or failed).

        Ending it again with the same status, time and reason changes nothing.
        """
        new_status = parse_enum(SessionStatus, status, "end status")
        end_reason = stored_reason("end reason", end_reason)
        if new_status in OPEN_STATUSES:
            raise StorageError(f'cannot end a session with status "{new_status}"')
        async with self._transaction() as session:
            row = await locked_session(session, id)
            previous = row.status
            if (previous, row.ended_at, row.end_reason) == (new_status, ended_at, end_reason):
                # Stored already, by an attempt whose commit was lost (storage.retry).
                return row.view()
            if previous not in (*OPEN_STATUSES, SessionStatus.INTERRUPTED):
                raise StorageError(f'cannot end session {id!r} in status "{previous}"')
            row.status, row.ended_at, row.end_reason = new_status, ended_at, end_reason
            await session.flush()
            view = row.view()
        logger.info("session %s: %s -> %s (%s)", id, previous, new_status, end_reason)
        return view

    async def get_session(self, id: str) -> SessionDetail:
        """Return a session with its files, events and evidence."""
        async with self._transaction() as session:
            row = await session.scalar(
                select(CallSession)
                .where(CallSession.id == id)
                .options(
                    selectinload(CallSession.files),
                    selectinload(CallSession.events),
                    selectinload(CallSession.evidence),
                    selectinload(CallSession.reviews),
                )
            )
            if row is None:
                raise NotFound("session", id)
            return row.detail()

    async def list_sessions(
        self, *, limit: int = 50, status: str | None = None
    ) -> list[SessionView]:
        """Return up to ``limit`` sessions, newest first, optionally of one status."""
        if limit < 1:
            raise StorageError(f"limit must be >= 1, got {limit}")
        query = select(CallSession).order_by(CallSession.created_at.desc(), CallSession.id.desc())
        if status is not None:
            query = query.where(CallSession.status == parse_enum(SessionStatus, status, "status"))
        async with self._transaction() as session:
            rows = await session.scalars(query.limit(limit))
            return [row.view() for row in rows]

    async def open_sessions(self) -> list[SessionView]:
        """Return the waiting and active sessions, oldest first."""
        async with self._transaction() as session:
            rows = await session.scalars(open_sessions_query())
            return [row.view() for row in rows]

    async def fail_open_sessions(self, reason: str, at: datetime) -> int:
        """Mark every open session failed (after a crash) and return how many there were."""
        async with self._transaction() as session:
            rows = list(await session.scalars(open_sessions_query().with_for_update()))
            for row in rows:
                logger.warning("session %s: %s -> failed (%s)", row.id, row.status, reason)
                row.status, row.ended_at, row.end_reason = SessionStatus.FAILED, at, reason
        return len(rows)

    async def interrupt_open_sessions(
        self, reason: str, at: datetime, *, only: Collection[str] | None = None
    ) -> tuple[list[str], int]:
        """After a restart: calls under way become interrupted (resumable), queued ones failed.

        With ``only`` (the calls of one dead node among several) just those sessions are
        looked at, and only those under way change: waiting ones may come back elsewhere.
        Returns the interrupted sessions' ids and how many waiting sessions failed.
        """
        interrupted: list[str] = []
        failed = 0
        query = open_sessions_query()
        if only is not None:
            query = query.where(CallSession.id.in_(list(only)))
        async with self._transaction() as session:
            for row in await session.scalars(query.with_for_update()):
                if only is not None and row.status != SessionStatus.ACTIVE:
                    continue
                if row.status == SessionStatus.ACTIVE:
                    logger.warning("session %s: active -> interrupted (%s)", row.id, reason)
                    row.status, row.end_reason = SessionStatus.INTERRUPTED, reason
                    interrupted.append(row.id)
                else:
                    logger.warning("session %s: %s -> failed (%s)", row.id, row.status, reason)
                    row.status, row.ended_at, row.end_reason = SessionStatus.FAILED, at, reason
                    failed += 1
        return interrupted, failed
