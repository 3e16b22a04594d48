"""The audit database: its engine, connections, schema and transactions.

``Database`` puts the parts together: credentials (``storage.credentials``), call sessions
(``storage.call_sessions``), a session's records (``storage.records``), the signed-in
browsers (``storage.web_sessions``), the inspections of recordings
(``storage.inspections``) and the auditors' review queue (``storage.review_queue``). Each
of their operations is one transaction, run here through the retry policy
(``storage.retry``): a database briefly unreachable is waited out.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from . import migrations
from .call_sessions import CallSessions
from .credentials import Credentials
from .error_counts import DatabaseErrors
from .errors import StorageError, StorageUnavailable
from .inspections import InspectionRecords
from .migrations import SchemaState, SchemaUpgrade
from .personal import PersonalData
from .records import SessionRecords
from .retry import DatabaseHealth, HealthView, Retrier, RetryPolicy, is_transient
from .review_queue import DEFAULT_SAMPLE_SHARE, ReviewQueueRecords, check_share
from .web_sessions import WebSessionRecords

P = ParamSpec("P")
T = TypeVar("T")

_PG, _SQLITE = "postgresql+asyncpg", "sqlite+aiosqlite"
_SCHEMES = {"sqlite": _SQLITE, _SQLITE: _SQLITE, "postgresql": _PG, "postgres": _PG, _PG: _PG}
# Errors meaning the server is unreachable, gone or busy, rather than a bad request.
_UNAVAILABLE = (OSError, sa_exc.OperationalError, sa_exc.InterfaceError)
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# How long a SQLite writer waits for another one before giving up.
_SQLITE_BUSY_TIMEOUT_MS = 30_000
# The operations that may run again after a commit whose outcome is unknown (storage.retry):
# reads, upserts, and writes that find their own earlier application (see their docstrings).
# Any other write is not tried again then: it raises StorageUnavailable, as before retries.
_REPEATABLE = frozenset(
    {
        # reads
        "authenticate",
        "check_password",
        "get_session",
        "list_sessions",
        "open_sessions",
        "next_evidence_seq",
        "workflow_context",
        "get_inspection",
        "search_inspections",
        "check_names",
        "session_verdicts",
        "review_queue",
        "part_flags",
        # writes that find themselves, or that leave the same rows when applied twice
        "add_workflow_event",
        "add_evidence",
        "save_recording_file",
        "end_session",
        "end_web_session",
        "use_web_session",
        "revoke_credential",
    }
)


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


class Database(
    Credentials,
    CallSessions,
    SessionRecords,
    WebSessionRecords,
    InspectionRecords,
    ReviewQueueRecords,
):
    """The audit database behind an async SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        personal: PersonalData | None = None,
        retry: RetryPolicy | None = None,
        review_sample_share: float = DEFAULT_SAMPLE_SHARE,
    ) -> None:
        """Build the engine for ``url``; nothing connects until :meth:`start`.

        ``personal`` seals ID numbers (the server passes its key file's; without it, a key
        of this process only, for tools and tests that never reopen sealed values, and
        never used to seal rows an upgrade converts). ``retry``: how long operations wait
        out transient connection errors (default ``RetryPolicy()``, about 20 s).
        ``review_sample_share``: the share of passing parts queued for review (0 to 1).
        """
        self.personal = PersonalData.ephemeral() if personal is None else personal
        self._retrier = Retrier(RetryPolicy() if retry is None else retry, DatabaseHealth())
        self._upgrade_key = personal
        self.review_sample_share = check_share(review_sample_share)
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
            # pool_pre_ping: a pooled connection the server closed (pg_terminate_backend, a
            # restart) is found out before use and replaced, instead of failing the work.
            self._engine = create_async_engine(
                url, connect_args=connect_args, pool_pre_ping=not sqlite
            )
        except (sa_exc.SQLAlchemyError, ValueError) as exc:
            # Not str(exc): it may quote the URL with its password.
            raise StorageError(f"invalid database URL ({type(exc).__name__})") from exc
        if sqlite:
            event.listen(self._engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self._engine.sync_engine, "begin", _sqlite_on_begin)
        #: Driver errors by type, read by the metrics (see storage.error_counts).
        self.errors = DatabaseErrors(self._engine.sync_engine)
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
    def health(self) -> HealthView:
        """Whether operations are failing to reach the database, and how many wait."""
        return self._retrier.health.view()

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session maker, for storage modules that run their own transactions."""
        return self._sessions

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """One ORM session in one transaction, with driver errors wrapped.

        A connection lost while committing raises StorageUnavailable ``in_doubt``.
        """
        try:
            async with self._sessions() as session:
                try:
                    await session.connection()
                except (sa_exc.SQLAlchemyError, OSError) as exc:
                    raise _translate(exc, connecting=True) from exc
                yield session
                try:
                    await session.commit()
                except (sa_exc.SQLAlchemyError, OSError) as exc:
                    raise _translate(exc, committing=True) from exc
        except StorageError:
            raise
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise _translate(exc) from exc


def _retried(
    name: str, operation: Callable[Concatenate[Database, P], Coroutine[Any, Any, T]]
) -> Callable[Concatenate[Database, P], Coroutine[Any, Any, T]]:
    """The method ``operation`` run through its Database's Retrier (see storage.retry)."""
    repeatable = name in _REPEATABLE

    @functools.wraps(operation)
    async def retried(database: Database, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await database._retrier.run(
            name, lambda: operation(database, *args, **kwargs), repeatable=repeatable
        )

    return retried


# The one place retries are applied: every public operation of the mixins Database is made
# of, each one transaction (none calls another, so retries never nest). A new mixin's
# writes are retried too, but never in doubt until they are named in _REPEATABLE.
for _mixin in Database.__bases__:
    for _name, _member in vars(_mixin).items():
        if not _name.startswith("_") and inspect.iscoroutinefunction(_member):
            setattr(Database, _name, _retried(_name, _member))


def _translate(
    exc: BaseException, *, connecting: bool = False, committing: bool = False
) -> StorageError:
    """Map a SQLAlchemy, driver or socket error onto the storage errors."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    reason = f"{type(orig).__name__}: {orig}"
    lost = isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    transient = is_transient(exc)
    if connecting or lost or transient or isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(
            f"database unavailable: {reason}",
            transient=transient,
            in_doubt=committing and transient,
        )
    return StorageError(f"database error: {reason}")
