"""A real call inspected by a ``dualrec worker`` process: the node queues the part's
composite on Redis, and the worker makes it, then inspects the part (its own job, queued
after the composite): the report chained once after the composite, the manifest signed
again with it, its summary in the shared database, ``dualrec verify`` passing.

The node is a ``dualrec serve`` process on the test's own PostgreSQL and Redis databases
(``tests.jobs.nodes``); the worker a ``python -m dualrec worker`` on its data folder.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common import CHAIN_FILE
from inspection import REPORT_FILE
from media import ChainLog
from media.archive import COMPOSITE
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.jobs.conftest import Processes
from tests.jobs.nodes import Node, manifest, run_call, running_node, start_worker
from tests.jobs.test_redis_jobs import WAIT_S, until

#: Making the composite of the test's call and inspecting it, on a busy machine.
POST_CALL_S = 300.0


@pytest.fixture
async def node(
    tmp_path: Path, shared_database: SharedDatabase, redis_target: RedisTarget
) -> AsyncIterator[Node]:
    """A node process whose post-call jobs are queued on Redis for workers."""
    async with running_node(tmp_path / "cluster", shared_database, redis_target) as started:
        yield started


async def test_a_worker_inspects_the_call_after_its_composite(
    node: Node, processes: Processes, tmp_path: Path
) -> None:
    out = tmp_path / "worker.out"
    worker = await start_worker(processes, node, out)
    session_id = await run_call(node)
    folder = node.recordings_dir / session_id
    # Logged once the job is done: the report signed into the manifest and stored.
    await until(
        lambda: f"inspect_part:{session_id}:1 done" in out.read_text("utf-8"),
        timeout=POST_CALL_S,
        what="the worker composes and inspects the part",
    )
    signed = manifest(folder)
    chained = [entry.file for entry in ChainLog.load(folder / CHAIN_FILE).entries]
    assert chained.count(REPORT_FILE) == 1 and chained[-1] == REPORT_FILE
    assert chained.index(COMPOSITE) < chained.index(REPORT_FILE) and "composite" in signed
    # The synthetic cameras show colours, not faces: the worker's report says so.
    assert signed["inspection"]["verdict"] == "fail"
    assert "customer_face" in signed["inspection"]["failed"]
    stored = await node.db.get_inspection(session_id)
    assert stored is not None and stored.verdict == "fail"
    assert stored.file == f"{session_id}/{REPORT_FILE}"
    verified = subprocess.run(
        [sys.executable, "-m", "dualrec", "verify", session_id, "--data-dir", str(node.data_dir)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"composite:{session_id}:1 done" in out.read_text("utf-8")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=WAIT_S) == 0
