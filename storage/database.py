"""The audit database: its engine, connections, schema and transactions.

``Database`` puts the parts together: credentials (``storage.credentials``), call sessions
(``storage.call_sessions``), a session's records (``storage.records``) and the signed-in
browsers (``storage.web_sessions``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from . import migrations
from .call_sessions import CallSessions
from .credentials import Credentials
from .errors import StorageError, StorageUnavailable
from .migrations import SchemaState, SchemaUpgrade
from .personal import PersonalData
from .records import SessionRecords
from .web_sessions import WebSessionRecords

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


class Database(Credentials, CallSessions, SessionRecords, WebSessionRecords):
    """The audit database behind an async SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self, url: str, *, schema: str | None = None, personal: PersonalData | None = None
    ) -> None:
        """Build the engine for ``url``; nothing connects until :meth:`start`.

        ``personal`` seals ID numbers (the server passes its key file's; without it, a key
        of this process only, for tools and tests that never reopen sealed values, and
        never used to seal rows an upgrade converts).
        """
        self.personal = PersonalData.ephemeral() if personal is None else personal
        self._upgrade_key = personal
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
                return await connection.run_sync(migrations.upgrade, self._upgrade_key)
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


def _translate(exc: BaseException, *, connecting: bool = False) -> StorageError:
    """Map a SQLAlchemy, driver or socket error onto the storage errors."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    reason = f"{type(orig).__name__}: {orig}"
    lost = isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    if connecting or lost or isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(f"database unavailable: {reason}")
    return StorageError(f"database error: {reason}")
