"""A real call's composite made by ``dualrec worker`` processes: the node only queues it on
Redis, and a worker killed in the middle of the composite leaves it to another worker,
which makes it once (chained once, signed, ``dualrec verify`` passes, and its
``/metrics`` counts the composite done once).

The node is a ``dualrec serve`` process on the test's own PostgreSQL database and Redis
database (``tests.cluster`` fixtures and harness); the workers are ``python -m dualrec
worker`` processes on the same data folder.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import aiohttp
import pytest

from agent_console import ScriptedAgent
from common import CHAIN_FILE, MANIFEST_FILE
from kiosk_client import Kiosk, open_source
from media import ChainLog, load_or_create_signing_key
from media.archive import COMPOSITE
from media.verify import verify_recording
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.cluster.harness import Cluster
from tests.cluster.harness import Node as HarnessNode
from tests.jobs.conftest import Processes
from tests.jobs.test_redis_jobs import RECOVERY_BOUND_S, WAIT_S, until
from tests.observability.test_metrics_endpoint import samples, value
from tests.support import free_port

#: Making the composite of the test's call, on a busy machine.
COMPOSE_S = 90.0
#: The token the second worker's /metrics is scraped with.
TOKEN = "jobs-test-scrape-token"


@dataclass(frozen=True)
class Node:
    """One ``dualrec serve`` process of several (PostgreSQL, Redis) and what it shares."""

    process: HarnessNode
    db: Database
    data_dir: Path
    database_url: str
    redis_url: str

    @property
    def recordings_dir(self) -> Path:
        """The recordings folder the node and its workers share."""
        return self.data_dir / "recordings"


@pytest.fixture
async def node(
    tmp_path: Path, shared_database: SharedDatabase, redis_target: RedisTarget
) -> AsyncIterator[Node]:
    """A node process whose post-call jobs are queued on Redis for workers."""
    cluster = Cluster(tmp_path / "cluster", shared_database.url, None)
    try:
        process = cluster.add_node("--redis-url", redis_target.url, "--tts-speed", "900")
        await process.start()
        yield Node(
            process, shared_database.db, cluster.data_dir, shared_database.url, redis_target.url
        )
    finally:
        await cluster.close()


async def run_call(node: Node) -> str:
    """One card-opening call between a synthetic kiosk and a scripted agent on the node."""
    kiosk_token = await node.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    agent_token = await node.db.add_credential("agent", "agent-1")
    ws_url = node.process.ws_url
    kiosk = Kiosk(ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK, pulse=True))
    agent = ScriptedAgent(
        ws_url, agent_token, open_source("synthetic", AGENT_LOOK, pulse=True), step_s=1.2
    )
    kiosk_result, agent_result = await asyncio.gather(kiosk.run(), agent.run())
    assert kiosk_result.ended is not None and agent_result.session_id is not None
    return agent_result.session_id


async def start_worker(
    processes: Processes, node: Node, out: Path, *extra: str, env: dict[str, str] | None = None
) -> Popen[str]:
    """``dualrec worker`` on the node's Redis, database and data folder, once it takes jobs."""
    worker = processes.start(
        "-m",
        "dualrec",
        "worker",
        "--redis-url",
        node.redis_url,
        "--database-url",
        node.database_url,
        "--data-dir",
        str(node.data_dir),
        *extra,
        log=out,
        env=env,
    )
    await until(
        lambda: "taking jobs" in out.read_text("utf-8") or worker.poll() is not None,
        what="the worker starts",
    )
    assert worker.poll() is None, out.read_text("utf-8")
    return worker


def manifest(folder: Path) -> dict[str, Any]:
    """The part's signed manifest."""
    data: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
    return data


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
