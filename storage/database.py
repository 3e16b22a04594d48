"""The audit database: credentials, call sessions, recording files, workflow and evidence."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Self

import argon2
from sqlalchemy import event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import selectinload
from sqlalchemy.pool import ConnectionPoolEntry

from common import Role

from . import migrations
from .errors import NotFound, StorageError, StorageUnavailable
from .migrations import SchemaState, SchemaUpgrade
from .models import (
    OPEN_STATUSES,
    CallSession,
    Credential,
    open_sessions_query,
    parse_enum,
)
from .records import SessionRecords, locked_session
from .views import CredentialView, SessionDetail, SessionStatus, SessionView

logger = logging.getLogger(__name__)

_PG, _SQLITE = "postgresql+asyncpg", "sqlite+aiosqlite"
_SCHEMES = {"sqlite": _SQLITE, _SQLITE: _SQLITE, "postgresql": _PG, "postgres": _PG, _PG: _PG}
# Errors meaning the server is unreachable, gone or busy, rather than a bad request.
_UNAVAILABLE = (OSError, sa_exc.OperationalError, sa_exc.InterfaceError)
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# How long a SQLite writer waits for another one before giving up.
_SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Return the async-driver form of a sqlite:// or postgresql:// database URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StorageError("database URL has no scheme; expected sqlite:// or postgresql://")
    driver = _SCHEMES.get(scheme.lower())
    if driver is None:
        # Name only the scheme: the rest of the URL may hold a password.
        raise StorageError(
            f"unsupported database URL scheme {scheme!r}; expected sqlite:// or postgresql://"
        )
    return f"{driver}://{rest}"


# argon2id with the library's (RFC 9106 "low memory") parameters.
_HASHER = argon2.PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone's")
MIN_PASSWORD_LENGTH = 10


def check_password_strength(password: str) -> None:
    """Raise StorageError unless ``password`` is long enough to be a password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StorageError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1000:
        raise StorageError("a password may have at most 1000 characters")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin,
    # so a read-then-write transaction really is one transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: concurrent writers queue on
    # busy_timeout instead of failing when a reader upgrades to a writer.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database(SessionRecords):
    """The audit database behind an async SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        """Build the engine for ``url``; nothing connects until :meth:`start`."""
        url = normalise_url(url)
        connect_args: dict[str, Any] = {}
        sqlite = url.startswith("sqlite")
        if schema is not None:
            if sqlite:
                raise StorageError("schema is only supported on PostgreSQL")
            if not _SCHEMA_NAME.fullmatch(schema):
                raise StorageError(f"invalid schema name {schema!r}")
            connect_args["server_settings"] = {"search_path": schema}
        try:
            self._engine = create_async_engine(url, connect_args=connect_args)
        except (sa_exc.SQLAlchemyError, ValueError) as exc:
            # Not str(exc): it may quote the URL with its password.
            raise StorageError(f"invalid database URL ({type(exc).__name__})") from exc
        if sqlite:
            event.listen(self._engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self._engine.sync_engine, "begin", _sqlite_on_begin)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    async def start(self) -> None:
        """Connect and bring the schema to the newest revision (see storage.migrations)."""
        await self.upgrade_schema()

    async def upgrade_schema(self) -> SchemaUpgrade:
        """Migrate the schema to the newest revision; a quick no-op when it is there."""
        try:
            async with self._engine.connect() as connection:
                return await connection.run_sync(migrations.upgrade)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise _translate(exc) from exc

    async def schema_state(self) -> SchemaState:
        """The schema revision of the database and the newest one, changing nothing."""
        try:
            async with self._engine.connect() as connection:
                return await connection.run_sync(migrations.current_revision)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise _translate(exc) from exc

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session maker, for storage modules that run their own transactions."""
        return self._sessions

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """One ORM session in one transaction, with driver errors wrapped."""
        try:
            async with self._sessions.begin() as session:
                try:
                    await session.connection()
                except (sa_exc.SQLAlchemyError, OSError) as exc:
                    raise _translate(exc, connecting=True) from exc
                yield session
        except StorageError:
            raise
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise _translate(exc) from exc

    async def add_credential(self, role: str, name: str, branch: str | None = None) -> str:
        """Create a credential and return its token; only the token's SHA-256 is stored."""
        checked_role = parse_enum(Role, role, "role")
        if not name.strip():
            raise StorageError("credential name must not be empty")
        token = secrets.token_urlsafe(32)
        async with self._transaction() as session:
            session.add(
                Credential(
                    token_sha256=_hash_token(token),
                    role=checked_role,
                    name=name,
                    branch=branch,
                    created_at=datetime.now(UTC),
                )
            )
            try:
                await session.flush()
            except sa_exc.IntegrityError as exc:
                raise StorageError(f"a {role} credential named {name!r} already exists") from exc
        logger.info("credential added: %s %r", role, name)
        return token

    async def set_password(self, role: str, name: str, password: str) -> None:
        """Give a staff member a password for the pages (stored as an argon2id hash)."""
        checked_role = parse_enum(Role, role, "role")
        if checked_role is Role.KIOSK:
            raise StorageError("kiosk devices sign in with their device token, not a password")
        check_password_strength(password)
        hashed = await asyncio.to_thread(_HASHER.hash, password)
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(Credential.role == checked_role, Credential.name == name)
            )
            if credential is None:
                raise NotFound(f"{role} credential", name)
            credential.password_hash = hashed
        logger.info("password set: %s %r", role, name)

    async def check_password(self, name: str, password: str) -> CredentialView | None:
        """Return the unrevoked staff credential ``name`` if ``password`` is its password.

        The hash is checked even for an unknown name, so that timing does not tell which
        names exist.
        """
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(
                    Credential.name == name,
                    Credential.role != Role.KIOSK,
                    Credential.revoked_at.is_(None),
                    Credential.password_hash.is_not(None),
                )
            )
            hashed = _DUMMY_HASH if credential is None else credential.password_hash
            view = None if credential is None else credential.view()
        assert hashed is not None
        try:
            await asyncio.to_thread(_HASHER.verify, hashed, password)
        except argon2.exceptions.VerificationError:
            return None
        except argon2.exceptions.InvalidHashError as exc:
            raise StorageError(f"the stored password hash of {name!r} is not valid") from exc
        return view

    async def authenticate(self, token: str) -> CredentialView | None:
        """Return the credential of an unrevoked token, or None."""
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(
                    Credential.token_sha256 == _hash_token(token),
                    Credential.revoked_at.is_(None),
                )
            )
            return None if credential is None else credential.view()

    async def revoke_credential(self, role: str, name: str) -> None:
        """Revoke a credential; revoking twice keeps the first revocation time."""
        checked_role = parse_enum(Role, role, "role")
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(Credential.role == checked_role, Credential.name == name)
            )
            if credential is None:
                raise NotFound(f"{role} credential", name)
            if credential.revoked_at is None:
                credential.revoked_at = datetime.now(UTC)
        logger.info("credential revoked: %s %r", role, name)

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
        """Close an open (or interrupted) session as ended (or failed)."""
        new_status = parse_enum(SessionStatus, status, "end status")
        if new_status in OPEN_STATUSES:
            raise StorageError(f'cannot end a session with status "{new_status}"')
        async with self._transaction() as session:
            row = await locked_session(session, id)
            previous = row.status
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

    async def interrupt_open_sessions(self, reason: str, at: datetime) -> tuple[list[str], int]:
        """After a restart: calls under way become interrupted (resumable), queued ones failed.

        Returns the interrupted sessions' ids and how many waiting sessions failed.
        """
        interrupted: list[str] = []
        failed = 0
        async with self._transaction() as session:
            for row in await session.scalars(open_sessions_query().with_for_update()):
                if row.status == SessionStatus.ACTIVE:
                    logger.warning("session %s: active -> interrupted (%s)", row.id, reason)
                    row.status, row.end_reason = SessionStatus.INTERRUPTED, reason
                    interrupted.append(row.id)
                else:
                    logger.warning("session %s: %s -> failed (%s)", row.id, row.status, reason)
                    row.status, row.ended_at, row.end_reason = SessionStatus.FAILED, at, reason
                    failed += 1
        return interrupted, failed


def _translate(exc: BaseException, *, connecting: bool = False) -> StorageError:
    """Map a SQLAlchemy, driver or socket error onto the storage errors."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    reason = f"{type(orig).__name__}: {orig}"
    lost = isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    if connecting or lost or isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(f"database unavailable: {reason}")
    return StorageError(f"database error: {reason}")
