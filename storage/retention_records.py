"""The ``sessions.retain_until`` column: until when a session's stored recording is locked."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exc as sa_exc

from .database import Database
from .errors import StorageError, StorageUnavailable
from .records import locked_session

logger = logging.getLogger(__name__)


async def extend_retain_until(db: Database, session_id: str, until: datetime) -> datetime:
    """Raise the session's ``retain_until`` to ``until`` (never lower it); the value in force.

    Every object of a session is locked until at least its own date: the column keeps
    the latest, the moment before which nothing of the session may be deleted.
    """
    if until.tzinfo is None:
        raise StorageError(f"session {session_id}: retain_until must be tz-aware, got {until}")
    try:
        async with db.sessions.begin() as session:
            row = await locked_session(session, session_id)
            previous = row.retain_until
            if previous is None or previous < until:
                row.retain_until = until
            in_force = row.retain_until
    except sa_exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            raise StorageUnavailable(f"database unavailable: {orig}") from exc
        raise StorageError(f"retain_until: database error: {orig}") from exc
    except OSError as exc:
        raise StorageUnavailable(f"database unavailable: {exc}") from exc
    assert in_force is not None
    if previous != in_force:
        logger.info("session %s: retained until %s", session_id, in_force.isoformat())
    return in_force
