"""Redis and PostgreSQL for the benchmarks of several nodes: a database of each, theirs alone.

A Redis database is claimed as the tests claim theirs (``SET NX`` of the same marker key,
so a test run never takes it meanwhile), flushed before and after; a PostgreSQL database
is made for each run on the local server and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from yarl import URL

from storage import Database, normalise_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Redis databases tried, in turn (the tests claim 1-15 from the bottom up).
REDIS_DATABASES = (14, 13, 15, 12, 11)
#: The tests' marker of a claimed Redis database (tests/cluster/conftest.py).
CLAIM_KEY = "dualrec-test:claimed-by"


class ServiceMissing(RuntimeError):
    """Redis or PostgreSQL cannot be used: the message says which and why."""


@contextlib.asynccontextmanager
async def redis_database(base: str = DEFAULT_REDIS_URL) -> AsyncIterator[str]:
    """The URL of a Redis database claimed for the benchmark, flushed before and after."""
    owner = f"bench-{uuid.uuid4().hex}"
    base = base.rstrip("/")
    for number in REDIS_DATABASES:
        client = aioredis.Redis.from_url(f"{base}/{number}")
        try:
            claimed = await client.set(CLAIM_KEY, owner, nx=True, ex=3600)
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise ServiceMissing(f"Redis unreachable at {base}: {exc}") from exc
        if claimed:
            break
        await client.aclose()
    else:
        raise ServiceMissing(f"every Redis database of {REDIS_DATABASES} is claimed")
    try:
        await client.flushdb()
        await client.set(CLAIM_KEY, owner, ex=3600)
        yield f"{base}/{number}"
    finally:
        await client.flushdb()
        await client.aclose()


async def flush_but_claim(url: str) -> None:
    """Empty the claimed Redis database between runs, keeping the claim."""
    client = aioredis.Redis.from_url(url)
    try:
        owner = await client.get(CLAIM_KEY)
        await client.flushdb()
        if owner is not None:
            await client.set(CLAIM_KEY, owner, ex=3600)
    finally:
        await client.aclose()


async def _on_server(url: str, statement: str) -> None:
    engine = create_async_engine(
        normalise_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def postgres_database(
    server: str = DEFAULT_POSTGRES_URL,
) -> AsyncIterator[tuple[str, Database]]:
    """A new PostgreSQL database: its URL, and it opened (so migrated); dropped afterwards."""
    name = f"dualrec_bench_{uuid.uuid4().hex[:12]}"
    try:
        await _on_server(server, f'CREATE DATABASE "{name}"')
    except Exception as exc:  # the driver's own errors: say which server, and why
        raise ServiceMissing(f"PostgreSQL at {server}: {type(exc).__name__}: {exc}") from exc
    try:
        url = str(URL(server).with_path(f"/{name}"))
        async with Database(url) as db:
            yield url, db
    finally:
        await _on_server(server, f'DROP DATABASE "{name}" WITH (FORCE)')
