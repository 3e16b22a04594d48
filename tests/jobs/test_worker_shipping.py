"""A closed part shipped to object storage by a worker's ``ship`` job: the node ships the
segments as they close and the archive at hang-up, then hands the part over; the worker
makes the composite, ships what the store lacks (the composite, the manifest signed again)
and deletes the local copies once every object is confirmed.

A real S3 endpoint (moto's server, Object Lock), a ``dualrec serve`` node process and a
``dualrec worker`` process, both configured from the environment as an operator would.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.e2e.test_s3_shipping import PREFIX, keys
from tests.jobs.conftest import Processes
from tests.jobs.nodes import Node, run_call, running_node, start_worker
from tests.jobs.test_redis_jobs import WAIT_S, until
from tests.jobs.test_worker_composite import COMPOSE_S
from tests.storage.s3server import (
    KEY_ID,
    REGION,
    SECRET,
    bucket,
    raw_client,
    s3_endpoint,
    s3_url,
)

__all__ = ["bucket", "s3_endpoint", "s3_url"]  # fixtures, imported for this test


@pytest.fixture
async def shipping_node(
    tmp_path: Path,
    shared_database: SharedDatabase,
    redis_target: RedisTarget,
    s3_url: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Node]:
    """A node shipping to the test's bucket; its workers inherit the same environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "DUALREC_S3_BUCKET": bucket,
        "DUALREC_S3_ENDPOINT": s3_url,
        "DUALREC_S3_REGION": REGION,
        "DUALREC_S3_RETRY_MAX_S": "1",
    }.items():
        monkeypatch.setenv(name, value)
    async with running_node(tmp_path / "cluster", shared_database, redis_target) as started:
        yield started


def local_files(folder: Path) -> set[str]:
    """The part's own files left in the folder (not the dot files)."""
    return {p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


async def test_the_worker_ships_the_closed_part_and_lets_the_local_copies_go(
    shipping_node: Node, processes: Processes, tmp_path: Path, s3_url: str, bucket: str
) -> None:
    node = shipping_node
    out = tmp_path / "worker.out"
    worker = await start_worker(processes, node, out)
    session_id = await run_call(node)
    folder = node.recordings_dir / session_id
    await until(
        lambda: f"ship:{session_id}:1 done" in out.read_text("utf-8"),
        timeout=COMPOSE_S + 60,
        what="the worker makes the composite and ships the part",
    )
    stored = await asyncio.to_thread(keys, s3_url, bucket, session_id + "/")
    names = {key.removeprefix(session_id + "/") for key in stored}
    assert {"composite.mp4", "composite.vtt", "chain.jsonl", "manifest.json"} <= names
    assert sum(name.endswith(".webm") for name in names) >= 8
    assert local_files(folder) == set()  # every copy confirmed in the store, then deleted
    manifest = await asyncio.to_thread(
        lambda: (
            raw_client(s3_url)
            .get_object(Bucket=bucket, Key=f"{PREFIX}{session_id}/manifest.json")["Body"]
            .read()
        )
    )
    assert json.loads(manifest)["composite"]["file"] == "composite.mp4"
    text = out.read_text("utf-8")
    assert text.count(f"composite:{session_id}:1 done") == 1
    assert text.count(f"ship:{session_id}:1 done") == 1
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, WAIT_S) == 0
