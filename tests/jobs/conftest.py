"""Fixtures of the job tests: a queue name of the test's own on the local Redis, and
worker processes that are stopped (and their keys removed) when the test ends.

Redis is skipped when absent, unless ``DUALREC_REQUIRE_REDIS`` is 1 (CI): then it fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

# A PostgreSQL database and a Redis database of the test's own, for a node and its workers.
from tests.cluster.conftest import redis_target, shared_database  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("DUALREC_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@dataclass(frozen=True)
class JobsRedis:
    """The Redis URL and a queue name no other test uses."""

    url: str
    queue: str


@pytest.fixture
async def jobs_redis() -> AsyncIterator[JobsRedis]:
    """A queue of this test's own; its keys (``saq:<queue>:*``, ``saq:job:<queue>:*``) go after."""
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("DUALREC_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    queue = f"test-jobs-{uuid.uuid4().hex}"
    try:
        yield JobsRedis(REDIS_URL, queue)
    finally:
        for pattern in (f"saq:{queue}:*", f"saq:job:{queue}:*"):
            keys = [key async for key in client.scan_iter(match=pattern)]
            if keys:
                await client.delete(*keys)
        await client.aclose()


@dataclass
class Processes:
    """Processes a test started: each is killed (if still running) when the test ends."""

    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(
        self, *args: str, log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``python args...`` from the repository root, its output into ``log``."""
        with log.open("w", encoding="utf-8") as out:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=None if env is None else os.environ | env,
            )
        self.started.append(process)
        return process


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Start processes; those left running are killed afterwards."""
    started = Processes()
    yield started
    for process in started.started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
