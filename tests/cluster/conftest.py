"""Fixtures of the tests of several nodes: a fresh PostgreSQL database, a Redis database of
the test's own, nginx, and a ``Cluster`` whose logs a failed test's report shows.

PostgreSQL, Redis and nginx are skipped when absent, unless ``DUALREC_REQUIRE_POSTGRES``,
``DUALREC_REQUIRE_REDIS`` or ``DUALREC_REQUIRE_NGINX`` is 1 (CI): then their absence fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc
from yarl import URL

from dualrec.loadbalancer import find_nginx
from storage import Database
from tests.cluster.harness import Cluster
from tests.e2e.test_durable_sign_ins import on_server
from tests.storage.conftest import DEFAULT_POSTGRES_URL

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
#: Redis databases a test may claim; 0 is left to the demo and to people.
REDIS_DATABASES = range(1, 16)
#: The key that marks a Redis database as one test's (it goes with the FLUSHDB).
CLAIM_KEY = "dualrec-test:claimed-by"
CLUSTER = pytest.StashKey["Cluster"]()


def _missing(what: str, variable: str, reason: str) -> None:
    if os.environ.get(variable) == "1":
        pytest.fail(f"{what}: {reason} ({variable}=1)")
    pytest.skip(f"{what}: {reason}")


@dataclass(frozen=True)
class SharedDatabase:
    """The nodes' PostgreSQL database, and the test's own connection to it."""

    url: str
    db: Database


@pytest.fixture
async def shared_database() -> AsyncIterator[SharedDatabase]:
    """A new PostgreSQL database for this test alone (migrated), dropped afterwards."""
    server_url = os.environ.get("DUALREC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"test_cluster_{uuid.uuid4().hex}"
    try:
        await on_server(server_url, f'CREATE DATABASE "{name}"')
    except (OSError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        _missing("PostgreSQL", "DUALREC_REQUIRE_POSTGRES", f"unreachable: {exc}")
    url = str(URL(server_url).with_path(f"/{name}"))
    try:
        # Opened (and so migrated) before any node starts: nodes then find it ready.
        async with Database(url) as db:
            yield SharedDatabase(url, db)
    finally:
        await on_server(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class RedisTarget:
    """A Redis database no other test uses while this one runs, and a key prefix of its own."""

    url: str
    number: int
    prefix: str


@pytest.fixture
async def redis_target() -> AsyncIterator[RedisTarget]:
    """A Redis database (1-15) claimed for this test, flushed afterwards.

    Several people's test runs share this machine's Redis: a database is claimed with
    ``SET NX`` on a marker key, so two runs never get the same one.
    """
    base = os.environ.get("DUALREC_TEST_REDIS_URL", DEFAULT_REDIS_URL).rstrip("/")
    owner = uuid.uuid4().hex
    for number in REDIS_DATABASES:
        client = aioredis.Redis.from_url(f"{base}/{number}")
        try:
            claimed = await client.set(CLAIM_KEY, owner, nx=True, ex=3600)
        except (RedisError, OSError) as exc:
            await client.aclose()
            _missing("Redis", "DUALREC_REQUIRE_REDIS", f"unreachable at {base}: {exc}")
        if claimed:
            break
        await client.aclose()
    else:
        pytest.fail(f"every Redis database {REDIS_DATABASES} is claimed by another test run")
    try:
        yield RedisTarget(f"{base}/{number}", number, f"test-{owner}:")
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
def nginx() -> str:
    """The nginx program."""
    program = find_nginx()
    if program is None:
        _missing("nginx", "DUALREC_REQUIRE_NGINX", "not installed (apt-get install nginx-light)")
    assert program is not None
    return program


@pytest.fixture
async def cluster(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    shared_database: SharedDatabase,
    nginx: str,
    redis_target: RedisTarget,
) -> AsyncIterator[Cluster]:
    """Nodes on the test's PostgreSQL database and one data folder; nginx when started.

    It holds the test's Redis database (``redis_target``) so that its nodes are gone
    before that database is flushed and given to another test: a node of this test
    still beating there would be taken for the next test's node of the same id.

    Nothing is started yet: the test starts what it needs. A failed test's report shows
    every node's and nginx's output.
    """
    running = Cluster(tmp_path, shared_database.url, nginx)
    request.node.stash[CLUSTER] = running
    try:
        yield running
    finally:
        await running.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report carries the output of the nodes and nginx it ran."""
    report = yield
    running = item.stash.get(CLUSTER, None)
    if running is not None and report.failed:
        report.sections.append(("dualrec nodes and nginx", running.logs()))
    return report
