"""Riding out a database that is briefly unreachable: which errors pass, retries, health.

A connection refused, reset or terminated (``pg_terminate_backend``, a restart, a network
cut) is transient: the operation is tried again, with jittered exponential back-off, until
it succeeds or ``RetryPolicy.total_s`` has passed. Each operation is one transaction, so a
failure before its commit left nothing behind and trying again is safe. A connection lost
*during* the commit leaves the outcome unknown ("in doubt"): only operations that find their
own earlier application (reads, upserts, and appends that check for themselves) are tried
again then; the others raise, as a lost connection always did.

``DatabaseHealth`` is what ``/healthz`` reports: since when operations have been failing
and how many are waiting to be tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg.exceptions as pg_exc
from sqlalchemy import exc as sa_exc
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_before_delay,
    wait_random_exponential,
)

from .errors import StorageUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors of the connection itself, never of the statement: refused, reset, shut down,
# terminated by an administrator, or not yet accepting connections (SQLSTATE 08, 57P01-3).
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    pg_exc.PostgresConnectionError,
    pg_exc.CannotConnectNowError,
    pg_exc.AdminShutdownError,
    pg_exc.CrashShutdownError,
)
# asyncpg's words for a connection that closed under it (raised as a plain InterfaceError).
_CLOSED_WORDS = ("connection is closed", "connection was closed", "connection_lost")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the connection, not the work, failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _TRANSIENT_TYPES):
            return True
        if isinstance(current, (sa_exc.InterfaceError, pg_exc.InterfaceError)) and any(
            words in str(current) for words in _CLOSED_WORDS
        ):
            return True
        orig = current.orig if isinstance(current, sa_exc.DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """How long an operation keeps trying through transient errors, and how it waits."""

    #: No new attempt starts once this many seconds have passed since the first.
    total_s: float = 20.0
    #: The back-off starts near this and doubles, each wait drawn at random below it.
    first_wait_s: float = 0.2
    #: No single wait is longer than this.
    longest_wait_s: float = 2.0


@dataclass(frozen=True)
class HealthView:
    """The database as the last operations found it."""

    #: When operations began failing with transient errors (None: the last one succeeded).
    failing_since: datetime | None
    #: Operations now waiting to be tried again.
    waiting: int
    #: Retries since the process started.
    retries: int
    #: The type of the last transient error (never its message: it may quote data).
    last_error: str | None

    @property
    def degraded(self) -> bool:
        """Whether operations are failing or waiting."""
        return self.failing_since is not None or self.waiting > 0


class DatabaseHealth:
    """What the retries of one Database have seen (read by ``/healthz``)."""

    def __init__(self) -> None:
        self._failing_since: datetime | None = None
        self._waiting = 0
        self._retries = 0
        self._last_error: str | None = None

    def view(self) -> HealthView:
        """A snapshot of the record."""
        return HealthView(self._failing_since, self._waiting, self._retries, self._last_error)

    def failed(self, exc: BaseException) -> None:
        """An operation failed with a transient error."""
        if self._failing_since is None:
            self._failing_since = datetime.now(UTC)
            logger.warning("database unreachable (%s)", type(exc).__name__)
        self._last_error = type(exc).__name__

    def reached(self) -> None:
        """An operation reached the database (whether or not the database accepted it)."""
        if self._failing_since is not None:
            logger.warning("database reachable again (failing since %s)", self._failing_since)
            self._failing_since = None

    def retrying(self, first: bool) -> None:
        """An operation waits to be tried again; ``first``: it had not waited before."""
        self._retries += 1
        self._waiting += first

    def settled(self) -> None:
        """An operation that waited has succeeded or given up."""
        self._waiting -= 1


class Retrier:
    """Runs each database operation under a RetryPolicy and keeps the DatabaseHealth."""

    def __init__(self, policy: RetryPolicy, health: DatabaseHealth) -> None:
        self.policy = policy
        self.health = health

    async def run(self, name: str, attempt: Callable[[], Awaitable[T]], *, repeatable: bool) -> T:
        """Await ``attempt()`` until it succeeds, fails for good, or the policy's time is up.

        ``repeatable``: the operation may run again after a commit whose outcome is unknown.
        """
        retries = 0

        def retryable(exc: BaseException) -> bool:
            if not isinstance(exc, StorageUnavailable) or not exc.transient:
                return False
            return repeatable or not exc.in_doubt

        def before_sleep(state: RetryCallState) -> None:
            nonlocal retries
            retries += 1
            self.health.retrying(first=retries == 1)
            error = state.outcome.exception() if state.outcome is not None else None
            cause = (error.__cause__ or error) if error is not None else None
            if cause is not None:
                self.health.failed(cause)
            # The error's type only: its message may quote the data of the statement.
            logger.warning(
                "database %s: %s, attempt %d failed, next in %.1f s",
                name,
                type(cause).__name__,
                state.attempt_number,
                state.upcoming_sleep,
            )

        retrying = AsyncRetrying(
            stop=stop_before_delay(self.policy.total_s),
            wait=wait_random_exponential(
                multiplier=self.policy.first_wait_s, max=self.policy.longest_wait_s
            ),
            retry=retry_if_exception(retryable),
            before_sleep=before_sleep,
            reraise=True,
        )

        async def once() -> T:
            # A coroutine function: tenacity calls a plain callable without awaiting it.
            return await attempt()

        try:
            result: T = await retrying(once)
        except StorageUnavailable as exc:
            if exc.transient:
                self.health.failed(exc.__cause__ or exc)
            else:
                self.health.reached()
            raise
        except Exception:
            self.health.reached()
            raise
        finally:
            if retries:
                self.health.settled()
        self.health.reached()
        if retries:
            logger.warning("database %s: done after %d retries", name, retries)
        return result
