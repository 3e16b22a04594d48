"""``dualrec demo --nodes 2`` as a user runs it (issue 11, point 8).

Two ``dualrec serve`` nodes and a ``dualrec worker`` as processes on Redis and PostgreSQL:
the kiosk on node 1, the agent on node 2, the call owned by node 1, the composite made by
the worker, the recording verified; every process stopped and gone, and nothing of the
demo's left in its Redis database. Without Redis or PostgreSQL it says what is missing.

The demo's Redis is a database claimed for the test (``tests/cluster/conftest.py``); its
PostgreSQL database is the one it makes on the local server by default, dropped after.
Redis and PostgreSQL are skipped when absent, unless ``DUALREC_REQUIRE_REDIS`` or
``DUALREC_REQUIRE_POSTGRES`` is 1: then their absence fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import exc as sa_exc

from cluster import Keys
from dualrec.demo_services import DEFAULT_POSTGRES_URL
from dualrec.processes import group_members
from media import load_or_create_signing_key
from media.verify import verify_recording
from tests.cluster.conftest import CLAIM_KEY, RedisTarget
from tests.e2e.test_durable_sign_ins import on_server
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
#: A database the demo made on the local server, as its output names it.
MADE = re.compile(r"dualrec_demo_[0-9a-f]{8}")
#: What SAQ notes of a running worker, under the queue's name: its info and the stats.
SAQ_WORKER_NOTES = ("saq:dualrec-jobs:worker_info:", "saq:dualrec-jobs:stats")


#: The pids of the processes the demo started, as its progress lines name them.
STARTED = re.compile(r"(?:node\d listening on \S+|worker started) \(pid (\d+)\)")
#: A bound on one demo (it takes seconds), within the test's time-out.
DEMO_WAIT_S = 300.0


async def start_demo(cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """``python -m dualrec demo ARGS`` in ``cwd``, its stdout and stderr piped."""
    # The checkout's packages, whichever of them the virtualenv's editable install lists.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dualrec",
        "demo",
        *args,
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": path},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def dualrec_demo(cwd: Path, *args: str) -> tuple[int, str, str]:
    """The demo run to its end: its exit status, stdout and stderr.

    A demo still running after ``DEMO_WAIT_S`` gets SIGTERM, which stops its processes too,
    and the test fails with what it said.
    """
    process = await start_demo(cwd, *args)
    try:
        out, err = await asyncio.wait_for(process.communicate(), DEMO_WAIT_S)
    except TimeoutError:
        process.terminate()
        out, err = await asyncio.wait_for(process.communicate(), 120)
        pytest.fail(f"the demo did not end within {DEMO_WAIT_S:g} s:\n{err.decode()}")
    return await process.wait(), out.decode(), err.decode()


@pytest.fixture
async def demo_databases() -> AsyncIterator[list[str]]:
    """The local PostgreSQL the demo makes its database on; what the test lists is dropped."""
    try:
        await on_server(DEFAULT_POSTGRES_URL, "SELECT 1")
    except (OSError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        reason = f"PostgreSQL unreachable at {DEFAULT_POSTGRES_URL}: {exc}"
        if os.environ.get("DUALREC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (DUALREC_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    made: list[str] = []
    try:
        yield made
    finally:
        for name in set(made):
            await on_server(DEFAULT_POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.timeout(DEMO_WAIT_S + 150)
async def test_a_call_across_two_nodes_and_a_worker(
    tmp_path: Path, redis_target: RedisTarget, demo_databases: list[str]
) -> None:
    data_dir = tmp_path / "var"
    status, out, err = await dualrec_demo(
        tmp_path,
        "--nodes",
        "2",
        "--json",
        "--step-seconds",
        "1",
        "--redis-url",
        redis_target.url,
        "--data-dir",
        str(data_dir),
    )
    demo_databases += MADE.findall(err)
    assert status == 0, err
    data = json.loads(out)
    assert data["verified"] is True and data["problems"] == [], data["problems"]
    assert data["status"] == "ended" and data["parts"] == 1
    nodes = data["nodes"]
    assert (nodes["kiosk"]["node"], nodes["agent"]["node"], nodes["owner"]) == (
        "node1",
        "node2",
        "node1",
    )
    assert nodes["kiosk"]["address"] != nodes["agent"]["address"]
    assert nodes["composite_by"] == "worker"
    assert Path(data["composite"]["file"]).is_file()
    assert nodes["database"]["created"] is True and nodes["database"]["name"] in demo_databases
    # Each process stopped by itself on SIGTERM, and nothing of its group is left.
    assert [(p["name"], p["exit"], p["left_behind"]) for p in nodes["processes"]] == [
        ("node1", 0, []),
        ("node2", 0, []),
        ("worker", 0, []),
    ]
    assert [group_members(p["pid"]) for p in nodes["processes"]] == [[], [], []]
    # The recording verifies here too, against the nodes' key, composite included.
    key = load_or_create_signing_key(data_dir / "keys" / "recording-signing-key.pem")
    report = verify_recording(Path(data["recording_dir"]), key.public_key())
    assert report.ok, report.problems
    # The demo's Redis database holds nothing of the demo's but SAQ's note of the worker,
    # which expires by itself (written every 10 s for 11 s); and the test's claim.
    client = aioredis.Redis.from_url(redis_target.url, decode_responses=True)
    try:
        left = set(await client.keys("*")) - {CLAIM_KEY}
        expiring = {key for key in left if key.startswith(SAQ_WORKER_NOTES)}
        assert left == expiring, left
        ttls = [await client.ttl(key) for key in expiring]
        assert all(0 < ttl <= 11 for ttl in ttls), ttls
    finally:
        await client.aclose()


async def test_without_redis_and_postgresql_it_names_both(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    status, out, err = await dualrec_demo(
        tmp_path,
        "--nodes",
        "2",
        "--redis-url",
        f"redis://127.0.0.1:{port}/0",
        "--database-url",
        f"postgresql://postgres@127.0.0.1:{port}/dualrec",
        "--data-dir",
        str(tmp_path / "var"),
    )
    assert status == 2, err
    assert f"Redis at redis://127.0.0.1:{port}/0: not reachable" in err
    assert f"PostgreSQL at postgresql://postgres@127.0.0.1:{port}/dualrec: cannot connect" in err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "var" / "demo-nodes").exists()  # no node or worker was started


async def test_a_redis_with_live_nodes_is_refused(
    tmp_path: Path, redis_target: RedisTarget
) -> None:
    client = aioredis.Redis.from_url(redis_target.url)

    async def beat() -> None:
        """A heartbeat each second, as a running node writes it (cluster.NodeRegistry)."""
        while True:
            seconds, micros = await client.time()
            await client.zadd(Keys().nodes, {"node7": seconds * 1000 + micros / 1000})
            await asyncio.sleep(1.0)

    heartbeat = asyncio.ensure_future(beat())
    try:
        status, _, err = await dualrec_demo(
            tmp_path,
            "--nodes",
            "2",
            "--redis-url",
            redis_target.url,
            "--database-url",
            f"postgresql://postgres@127.0.0.1:{free_port()}/dualrec",
        )
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        await client.aclose()
    assert status == 2, err
    assert "dualrec nodes are running on it (node7)" in err


async def test_redis_url_without_nodes_is_refused(tmp_path: Path) -> None:
    status, _, err = await dualrec_demo(tmp_path, "--redis-url", "redis://127.0.0.1:6379/0")
    assert status == 2 and "--redis-url is for the demo of several nodes (--nodes 2)" in err


@pytest.mark.timeout(DEMO_WAIT_S + 150)
async def test_sigterm_mid_call_stops_the_demo_and_its_processes(
    tmp_path: Path, redis_target: RedisTarget, demo_databases: list[str]
) -> None:
    process = await start_demo(
        tmp_path, "--nodes", "2", "--redis-url", redis_target.url, "--data-dir", str(tmp_path)
    )
    assert process.stderr is not None
    said: list[str] = []
    async with asyncio.timeout(DEMO_WAIT_S):
        while not said or "kiosk connected" not in said[-1]:
            line = (await process.stderr.readline()).decode()
            assert line, "".join(said)  # the demo ended before the call began
            said.append(line)
    process.terminate()
    _, rest = await asyncio.wait_for(process.communicate(), 120)
    err = "".join(said) + rest.decode()
    demo_databases += MADE.findall(err)
    assert process.returncode == 1, err
    assert "dualrec demo: stopped by SIGTERM; its nodes and worker were stopped" in err
    pids = [int(pid) for pid in STARTED.findall(err)]
    assert len(pids) == 3, err  # node1, node2 and the worker
    assert [group_members(pid) for pid in pids] == [[], [], []]
    # What the nodes left of the call in Redis went with them.
    client = aioredis.Redis.from_url(redis_target.url, decode_responses=True)
    try:
        assert [key async for key in client.scan_iter(match="dualrec:*")] == []
    finally:
        await client.aclose()
