"""The Lua claim from three processes at once: no session claimed twice, no agent given two.

Each process has its own Redis connection and claims for its own agents, all starting at
the same instant (``bench.claims``, which measures the claim's speed with the same code).
"""

from __future__ import annotations

import asyncio

from bench.claims import claim_from_processes, fill
from cluster import Keys, RedisSettings, SharedQueue, connect
from tests.cluster.conftest import RedisTarget


async def _left(target: RedisTarget) -> tuple[int, int]:
    """How many sessions still wait, and how many agents are still available."""
    redis = connect(RedisSettings(target.url))
    keys = Keys(target.prefix)
    try:
        return await SharedQueue(redis, keys).length(), int(await redis.zcard(keys.available))
    finally:
        await redis.aclose()


async def test_100_concurrent_claims_from_3_processes_get_100_distinct_sessions(
    redis_target: RedisTarget,
) -> None:
    """100 claims of the head, all in flight at once, for 100 waiting: each wins another."""
    agents = [f"node{i % 3}/agent-{i:03d}" for i in range(100)]
    await fill(redis_target.url, redis_target.prefix, 100, agents)
    run = await asyncio.to_thread(
        claim_from_processes, redis_target.url, redis_target.prefix, agents, in_flight=100
    )
    assert len(run.outcomes) == 100
    assert run.problems() == []
    assert len({o.session_id for o in run.claimed}) == 100
    assert {o.agent for o in run.claimed} == set(agents)
    assert await _left(redis_target) == (0, 0)


async def test_more_claims_than_waiting_sessions_leave_the_rest_refused(
    redis_target: RedisTarget,
) -> None:
    """150 claims for 100 waiting: 100 distinct sessions won, 50 told the queue is empty."""
    agents = [f"node{i % 3}/agent-{i:03d}" for i in range(150)]
    await fill(redis_target.url, redis_target.prefix, 100, agents)
    run = await asyncio.to_thread(
        claim_from_processes, redis_target.url, redis_target.prefix, agents, in_flight=150
    )
    assert run.problems() == []
    assert len({o.session_id for o in run.claimed}) == 100
    assert run.refused() == {"empty": 50}
    # A refused agent stays available: it was not given anything.
    assert await _left(redis_target) == (0, 50)


async def test_one_offer_claimed_by_30_agents_at_once_goes_to_one(
    redis_target: RedisTarget,
) -> None:
    """30 agents in three processes take the same offer at once: one wins, 29 hear "taken"."""
    agents = [f"node{i % 3}/agent-{i:03d}" for i in range(30)]
    await fill(redis_target.url, redis_target.prefix, 5, agents)
    run = await asyncio.to_thread(
        claim_from_processes,
        redis_target.url,
        redis_target.prefix,
        agents,
        in_flight=30,
        offer="offer-00000",
    )
    assert [o.session_id for o in run.claimed] == ["session-00000"]
    assert run.refused() == {"taken": 29}
    assert await _left(redis_target) == (4, 29)
