"""Faults of several nodes (issue 11): Redis restarted mid-day, a node drained by SIGTERM, a
rolling restart of every node during a call, a frozen node that wakes up.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from common import Role
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.cluster.harness import Cluster, Node
from tests.cluster.nodes import (
    agent,
    join,
    kiosk,
    next_of,
    on_redis,
    parties,
    start,
    verify,
    wait_for,
)
from tests.support import free_port


class PrivateRedis:
    """A redis-server of the test's own (this machine's Redis is shared), restartable."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        program = shutil.which("redis-server")
        assert program is not None
        self.process = await asyncio.create_subprocess_exec(
            program,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            stdout=asyncio.subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url)
        try:
            await wait_for(lambda: _pings(client), "redis-server answers", 10.0)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def _pings(client: aioredis.Redis) -> bool:
    with contextlib.suppress(OSError, aioredis.ConnectionError):
        return bool(await client.ping())
    return False


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_redis_restarted_the_call_goes_on_and_the_queue_comes_back_in_order(
    cluster: Cluster, shared_database: SharedDatabase, private_redis: PrivateRedis
) -> None:
    target = RedisTarget(private_redis.url, 0, "")
    first, second = await start(cluster, target, 2)
    db = shared_database.db
    tokens = await parties(db)
    customer = kiosk(first.ws_url, tokens[Role.KIOSK])
    staff = agent(second.ws_url, tokens[Role.AGENT], step_s=2.0)
    call = asyncio.gather(customer.run(), staff.run())
    redis = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
    async with aiohttp.ClientSession() as http:
        await wait_for(lambda: _recording(db), "the call records", 60.0)
        waiting, sockets = [], []
        for n, node in enumerate([first, second, first]):
            token = await db.add_credential(Role.KIOSK, f"BJ-002-K{n}", "BJ-002")
            ws = await join(http, node.ws_url, "kiosk", token)
            await ws.send_json({"type": "request_service", "service": "card_opening"})
            waiting.append((await next_of(ws, "queue_position"))["session_id"])
            sockets.append(ws)
        assert await redis.zrange("dualrec:queue", 0, -1) == waiting

        await private_redis.stop()
        await asyncio.sleep(2.0)  # nodes notice: heartbeats fail, /healthz says so
        assert "Redis unreachable" in " ".join((await first.healthz())["degraded"])
        await private_redis.start()
        back = time.monotonic()
        await wait_for(lambda: _queue_is(redis, waiting), "the waiting are back, in order", 20.0)
        print(f"queue back in order {time.monotonic() - back:.1f} s after Redis restarted")

        seen, served = await asyncio.wait_for(call, 240)
        assert served.ended is not None and served.ended.reason == "completed"
        assert seen.errors == []
        assert served.session_id is not None
        [report] = await verify(cluster, served.session_id)
        assert report["ok"]
        for ws in sockets:
            await ws.close()
    await redis.aclose()


async def _recording(db: object) -> bool:
    sessions = await db.list_sessions(limit=5)  # type: ignore[attr-defined]
    return any(str(s.status) == "active" for s in sessions)


async def _queue_is(redis: aioredis.Redis, expected: list[str]) -> bool:
    with contextlib.suppress(OSError, aioredis.RedisError):
        return bool(await redis.zrange("dualrec:queue", 0, -1) == expected)
    return False


async def test_a_draining_node_hands_over_its_waiting_and_interrupts_what_outlives_its_grace(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    extra = on_redis(redis_target)
    draining = cluster.add_node(*extra("node1"), "--drain-seconds", "4", name="node1")
    await draining.start()
    # The other node starts later: nginx sends every kiosk to the draining one first.
    other = cluster.add_node(*extra("node2"), name="node2")
    balancer = await cluster.start_balancer()
    db = shared_database.db
    tokens = await parties(db)
    customer = kiosk(balancer.ws_url, tokens[Role.KIOSK], reconnect_s=60.0)
    visit = asyncio.ensure_future(customer.run())
    await wait_for(lambda: _sessions(draining), "the kiosk is queued on node 1")
    await other.start()
    staff = agent(other.ws_url, tokens[Role.AGENT], step_s=3.0)
    call = asyncio.ensure_future(staff.run())
    await wait_for(lambda: _recording(db), "the call records", 60.0)
    async with aiohttp.ClientSession() as http:
        late = await db.add_credential(Role.KIOSK, "BJ-003-K1", "BJ-003")
        ws = await join(http, draining.ws_url, "kiosk", late)
        await ws.send_json({"type": "request_service", "service": "card_opening"})
        queued = await next_of(ws, "queue_position")

        assert await draining.terminate(60.0) == 0
        # The waiting kiosk was sent away with its place: it resumes on node 2.
        while (await ws.receive(timeout=10)).type != aiohttp.WSMsgType.CLOSE:
            pass
        again = await join(http, balancer.ws_url, "kiosk", late)
        await again.send_json({"type": "resume", "session_id": queued["session_id"]})
        assert (await next_of(again, "queue_position"))["session_id"] == queued["session_id"]
        await again.close()
    # The call outlived the grace: interrupted, it resumed on node 2 with the same agent.
    _, served = await asyncio.wait_for(asyncio.gather(visit, call), 240)
    assert served.ended is not None and served.ended.reason == "completed"
    assert staff.reconnections == 1 and customer.connections == 2
    assert served.session_id is not None
    reports = await verify(cluster, served.session_id)
    assert [r["ok"] for r in reports] == [True, True]
    assert draining.groups and not any(_alive(pgid) for pgid in draining.groups)


async def _sessions(node: Node) -> bool:
    return bool((await node.healthz())["sessions"])


def _alive(pgid: int) -> bool:
    from tests.cluster.harness import group_alive

    return group_alive(pgid)


async def test_a_rolling_restart_during_a_call_loses_neither_call_nor_recording(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    extra = on_redis(redis_target)
    nodes = [cluster.add_node(*extra(n), "--drain-seconds", "120", name=n) for n in ("a", "b")]
    for node in nodes:
        await node.start()
    balancer = await cluster.start_balancer()
    db = shared_database.db
    tokens = await parties(db)
    customer = kiosk(balancer.ws_url, tokens[Role.KIOSK], reconnect_s=60.0)
    visit = asyncio.ensure_future(customer.run())
    await wait_for(lambda: _any_sessions(nodes), "the kiosk is queued")
    owner, other = nodes if (await nodes[0].healthz())["sessions"] else nodes[::-1]
    staff = agent(other.ws_url, tokens[Role.AGENT], step_s=1.5)
    call = asyncio.ensure_future(staff.run())
    await wait_for(lambda: _recording(db), "the call records", 60.0)
    # Each node in turn: SIGTERM (it waits for the call), start again.
    for node in (owner, other):
        assert await node.terminate(240.0) == 0
        await node.start()
    _, served = await asyncio.wait_for(asyncio.gather(visit, call), 240)
    assert served.ended is not None and served.ended.reason == "completed"
    assert served.session_id is not None
    detail = await db.get_session(served.session_id)
    assert (str(detail.session.status), detail.session.recording_parts) == ("ended", 1)
    [report] = await verify(cluster, served.session_id)
    assert report["ok"]


async def _any_sessions(nodes: list[Node]) -> bool:
    return any([(await node.healthz())["sessions"] for node in nodes])


async def test_a_frozen_owner_is_declared_dead_and_on_waking_writes_nothing(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    first, second = await start(cluster, redis_target, 2)
    db = shared_database.db
    tokens = await parties(db)
    customer = kiosk(first.ws_url, tokens[Role.KIOSK])
    staff = agent(second.ws_url, tokens[Role.AGENT], step_s=3.0)
    call = asyncio.ensure_future(asyncio.gather(customer.run(), staff.run()))
    await wait_for(lambda: _recording(db), "the call records", 60.0)
    await asyncio.sleep(2.0)
    session_id = next(s.id for s in await db.list_sessions(limit=5) if str(s.status) == "active")

    first.freeze()
    frozen = time.monotonic()
    await wait_for(lambda: _interrupted(db, session_id), "the frozen owner's call interrupted")
    print(f"declared dead and its call interrupted {time.monotonic() - frozen:.1f} s after")
    [before] = await verify(cluster, session_id)
    assert before["ok"]
    first.thaw()
    # It finds it was taken for dead and leaves without writing to the part.
    assert await first.wait_exit(30.0) != 0
    [after] = await verify(cluster, session_id)
    assert after["ok"] and after["tracks"] == before["tracks"]
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await call


async def _interrupted(db: object, session_id: str) -> bool:
    detail = await db.get_session(session_id)  # type: ignore[attr-defined]
    return str(detail.session.status) == "interrupted"
