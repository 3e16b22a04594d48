"""What ``dualrec demo --nodes 2`` needs running, Redis and PostgreSQL, and what it leaves.

Both are checked before any process starts, and everything missing is named at once with
how to start it. Without ``--database-url`` a fresh database is made for the run on the
local PostgreSQL (kept afterwards: the recording's facts are in it). Redis database 0
is the demo's by default (the tests claim 1-15); the demo refuses one where other nodes
are alive, and deletes afterwards only the keys its own nodes and calls left (SAQ's note
of the worker expires by itself, 11 s after the worker's last).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from yarl import URL

from cluster import DEAD_AFTER_S, Keys, RedisSettings, connect
from storage import StorageError, normalise_url

from .settings import Settings, SettingsError

logger = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The local server's maintenance database, where the demo's own database is made.
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class DemoDatabase:
    """The PostgreSQL database the demo's nodes share, and whether the demo made it."""

    url: str
    name: str
    created: bool

    def describe(self) -> str:
        """Its URL (password hidden), and whether it was made for this run."""
        return shown_url(self.url) + (" (made for this run)" if self.created else "")


def shown_url(url: str) -> str:
    """``url`` with its password, if any, hidden."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


async def check_services(settings: Settings) -> tuple[str, DemoDatabase]:
    """The Redis URL and the database to use; SettingsError naming everything missing."""
    redis_url = settings.redis_url or DEFAULT_REDIS_URL
    missing = []
    redis_problem = await _redis_problem(redis_url)
    if redis_problem is not None:
        how = (
            "start it (sudo systemctl start redis-server; Debian: apt-get install redis-server)"
            if settings.redis_url is None
            else "check --redis-url"
        )
        missing.append(f"Redis at {shown_url(redis_url)}: {redis_problem}; {how}")
    given = settings.database_url
    if given is not None and not given.startswith("postgresql"):
        missing.append("--database-url must be postgresql://...: the nodes share one database")
    else:
        server = given or DEFAULT_POSTGRES_URL
        problem = await _postgres_problem(server)
        if problem is not None:
            how = (
                "start it (sudo systemctl start postgresql; Debian: apt-get install postgresql), "
                "with a user postgres trusted on 127.0.0.1, or give --database-url"
                if given is None
                else "check --database-url"
            )
            missing.append(f"PostgreSQL at {shown_url(server)}: {problem}; {how}")
    if missing:
        raise SettingsError(
            "the demo of several nodes needs Redis and PostgreSQL:\n"
            + "\n".join(f"  - {line}" for line in missing)
        )
    if given is not None:
        return redis_url, DemoDatabase(given, URL(given).path.lstrip("/"), created=False)
    name = f"dualrec_demo_{secrets.token_hex(4)}"
    await _on_server(DEFAULT_POSTGRES_URL, f'CREATE DATABASE "{name}"')
    url = str(URL(DEFAULT_POSTGRES_URL).with_path(f"/{name}"))
    return redis_url, DemoDatabase(url, name, created=True)


async def _redis_problem(url: str) -> str | None:
    """Why the demo cannot use the Redis at ``url``, or None."""
    redis = connect(RedisSettings(url, timeout_s=CONNECT_TIMEOUT_S, retries=0))
    keys = Keys()
    try:
        await redis.ping()
        seconds, micros = await redis.time()
        now_ms = seconds * 1000 + micros / 1000
        scores = await redis.zrange(keys.nodes, 0, -1, withscores=True)
    except (RedisError, OSError) as exc:
        return f"not reachable ({exc})"
    finally:
        await redis.aclose()
    alive = sorted(node for node, score in scores if now_ms - score < DEAD_AFTER_S * 1000)
    if alive:
        return (
            f"dualrec nodes are running on it ({', '.join(alive)}): the demo's nodes would "
            "join them; give another Redis database, e.g. --redis-url redis://127.0.0.1:6379/0 "
            "with another number than this one"
        )
    return None


async def _postgres_problem(url: str) -> str | None:
    """Why the PostgreSQL at ``url`` cannot be reached, or None (the driver's words only)."""
    try:
        await _on_server(url, "SELECT 1")
    except (OSError, TimeoutError, sa_exc.SQLAlchemyError, StorageError) as exc:
        cause = getattr(exc, "orig", None) or exc
        return f"cannot connect ({type(cause).__name__}: {str(cause).splitlines()[0]})"
    return None


async def _on_server(url: str, statement: str) -> None:
    """Run ``statement`` outside a transaction (CREATE DATABASE needs that)."""
    engine = create_async_engine(
        normalise_url(url),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def clean_redis(url: str, nodes: Sequence[str], sessions: Iterable[str]) -> int:
    """Delete what the demo's nodes and calls left in Redis, nothing of anyone else's.

    A key is the demo's if it is one of its nodes' or names one of its sessions (session
    ids are random: the jobs' results, kept by SAQ for a day, name theirs too). Returns how
    many keys were deleted; a Redis that went away meanwhile is only reported.
    """
    keys = Keys()
    redis = connect(RedisSettings(url))
    names = [keys.stream(node) for node in nodes] + [keys.node(node) for node in nodes]
    names += [keys.node_calls(node) for node in nodes]
    try:
        for session_id in sessions:
            names += [name async for name in redis.scan_iter(match=f"*{session_id}*")]
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(*names)
            pipe.zrem(keys.nodes, *nodes)
            deleted, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        logger.warning("the demo's keys could not be deleted from Redis: %s", exc)
        return 0
    finally:
        await redis.aclose()
    return int(deleted)
