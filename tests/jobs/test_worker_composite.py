"""A real call's composite made by ``dualrec worker`` processes: the node only queues it on
Redis, and a worker killed in the middle of the composite leaves it to another worker,
which makes it once (chained once, signed, ``dualrec verify`` passes, and its
``/metrics`` counts the composite done once).

The node is a ``dualrec serve`` process on the test's own PostgreSQL database and Redis
database (``tests.cluster`` fixtures and harness); the workers are ``python -m dualrec
worker`` processes on the same data folder.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from common import CHAIN_FILE
from media import ChainLog, load_or_create_signing_key
from media.archive import COMPOSITE
from media.verify import verify_recording
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.jobs.conftest import Processes
from tests.jobs.nodes import Node, manifest, run_call, running_node, start_worker
from tests.jobs.test_redis_jobs import RECOVERY_BOUND_S, WAIT_S, until
from tests.observability.test_metrics_endpoint import samples, value
from tests.support import free_port

#: Making the composite of the test's call, on a busy machine.
COMPOSE_S = 90.0
#: The token the second worker's /metrics is scraped with.
TOKEN = "jobs-test-scrape-token"


@pytest.fixture
async def node(
    tmp_path: Path, shared_database: SharedDatabase, redis_target: RedisTarget
) -> AsyncIterator[Node]:
    """A node process whose post-call jobs are queued on Redis for workers."""
    async with running_node(tmp_path / "cluster", shared_database, redis_target) as started:
        yield started


async def test_a_worker_killed_mid_composite_leaves_it_to_another_which_makes_it_once(
    node: Node, processes: Processes, tmp_path: Path
) -> None:
    first = await start_worker(processes, node, tmp_path / "first.out")
    session_id = await run_call(node)
    folder = node.recordings_dir / session_id
    await until(
        lambda: (folder / "composite.partial.mp4").exists(),
        what="the first worker composes",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=WAIT_S)
    assert "composite" not in manifest(folder)  # caught in the middle

    port = free_port()
    second = await start_worker(
        processes,
        node,
        tmp_path / "second.out",
        "--metrics-port",
        str(port),
        env={"DUALREC_METRICS_TOKEN": TOKEN},
    )
    await until(
        lambda: "composite" in manifest(folder),
        timeout=RECOVERY_BOUND_S + COMPOSE_S,
        what="the second worker makes the composite",
    )
    chained = [entry.file for entry in ChainLog.load(folder / CHAIN_FILE).entries]
    assert chained.count(COMPOSITE) == 1
    key = load_or_create_signing_key(node.data_dir / "keys" / "recording-signing-key.pem")
    report = verify_recording(folder, key.public_key())
    assert report.ok, report.problems
    assert f"composite:{session_id}:1 done" in (tmp_path / "second.out").read_text("utf-8")
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as scraped,
    ):
        assert scraped.status == 200
        counts = samples(await scraped.text())
    assert value(counts, "dualrec_jobs_done_total", kind="composite") == 1
    assert value(counts, "dualrec_jobs_running", kind="composite") == 0
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=WAIT_S) == 0
