"""The harness itself: teardown ends every process it started, and a test's Redis is its own."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.cluster.conftest import CLAIM_KEY, RedisTarget
from tests.cluster.harness import Cluster, group_alive


async def test_teardown_leaves_no_process_behind(cluster: Cluster) -> None:
    """Killed, frozen or running: after ``close`` nothing the test started is left."""
    killed, frozen, running = await cluster.start_nodes(3)
    await cluster.start_balancer()
    await killed.kill()
    frozen.freeze()
    groups = cluster.groups()
    assert len(groups) == 4
    # The killed node's group may still hold what it started (multiprocessing's resource
    # tracker, found there after a kill -9); the others are whole.
    assert [group_alive(pgid) for pgid in groups[1:]] == [True, True, True]
    await cluster.close()
    assert not [pgid for pgid in groups if group_alive(pgid)]
    assert not running.running and not frozen.running


async def test_a_redis_database_is_claimed_for_one_test_and_flushed(
    redis_target: RedisTarget,
) -> None:
    client = aioredis.Redis.from_url(redis_target.url)
    try:
        assert redis_target.url.endswith(f"/{redis_target.number}")
        assert redis_target.number != 0
        # Claimed: another run asking for a database passes this one over.
        assert not await client.set(CLAIM_KEY, "another run", nx=True)
        await client.set(f"{redis_target.prefix}queue", "x")
    finally:
        await client.aclose()
