"""A ``dualrec serve`` node whose post-call jobs go to Redis, its calls, and its workers.

The node is a process of the ``tests.cluster`` harness on the test's own PostgreSQL and
Redis databases; workers are ``python -m dualrec worker`` processes on its data folder.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

from agent_console import ScriptedAgent
from common import MANIFEST_FILE
from kiosk_client import Kiosk, open_source
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.cluster.harness import Cluster
from tests.cluster.harness import Node as HarnessNode
from tests.jobs.conftest import Processes
from tests.jobs.test_redis_jobs import until


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


@asynccontextmanager
async def running_node(
    directory: Path, database: SharedDatabase, redis: RedisTarget
) -> AsyncIterator[Node]:
    """A node process (environment inherited) whose post-call jobs are queued on Redis."""
    cluster = Cluster(directory, database.url, None)
    try:
        process = cluster.add_node("--redis-url", redis.url, "--tts-speed", "900")
        await process.start()
        yield Node(process, database.db, cluster.data_dir, database.url, redis.url)
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
