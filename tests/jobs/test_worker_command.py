"""``dualrec worker`` as an operator runs it: it takes jobs until SIGTERM, then exits 0;
on a folder that is not a data folder (no signing key) it refuses to start, saying why."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from media import load_or_create_signing_key
from tests.jobs.conftest import JobsRedis, Processes
from tests.jobs.test_redis_jobs import WAIT_S, until
from tests.storage.conftest import DEFAULT_POSTGRES_URL

DATABASE_URL = os.environ.get("DUALREC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def worker_args(redis: JobsRedis, data_dir: Path) -> list[str]:
    """``python -m dualrec worker`` on the test's queue."""
    return [
        "-m",
        "dualrec",
        "worker",
        "--redis-url",
        redis.url,
        "--queue",
        redis.queue,
        "--database-url",
        DATABASE_URL,
        "--data-dir",
        str(data_dir),
    ]


async def test_the_worker_exits_cleanly_on_sigterm(
    jobs_redis: JobsRedis, processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    load_or_create_signing_key(data_dir / "keys" / "recording-signing-key.pem")
    out = tmp_path / "worker.out"
    worker = processes.start(*worker_args(jobs_redis, data_dir), log=out)
    await until(
        lambda: "taking jobs" in out.read_text("utf-8") or worker.poll() is not None,
        what="the worker starts",
    )
    assert worker.poll() is None, out.read_text("utf-8")
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, WAIT_S) == 0, out.read_text("utf-8")
    assert "stopped" in out.read_text("utf-8")


async def test_the_worker_refuses_to_sign_with_a_key_of_its_own(
    jobs_redis: JobsRedis, processes: Processes, tmp_path: Path
) -> None:
    out = tmp_path / "worker.out"
    worker = processes.start(*worker_args(jobs_redis, tmp_path / "empty"), log=out)
    assert await asyncio.to_thread(worker.wait, WAIT_S) == 2
    assert "is not a dualrec data folder (no keys" in out.read_text("utf-8")
    assert not (tmp_path / "empty" / "keys").exists()


async def test_the_worker_writes_json_lines_when_asked(
    jobs_redis: JobsRedis, processes: Processes, tmp_path: Path
) -> None:
    # Its log goes to the same collector as the nodes' (docs/deployment.md, logs).
    data_dir = tmp_path / "var"
    load_or_create_signing_key(data_dir / "keys" / "recording-signing-key.pem")
    out = tmp_path / "worker.out"
    args = [*worker_args(jobs_redis, data_dir), "--log-format", "json", "--node-id", "worker-7"]
    worker = processes.start(*args, log=out)
    await until(
        lambda: "taking jobs" in out.read_text("utf-8") or worker.poll() is not None,
        what="the worker starts",
    )
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, WAIT_S) == 0, out.read_text("utf-8")
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines() if line.strip()]
    taking = [line for line in lines if "taking jobs" in line["message"]]
    assert len(taking) == 1 and taking[0]["node"] == "worker-7"
    assert {line["level"] for line in lines} <= {"DEBUG", "INFO", "WARNING", "ERROR"}
    assert any("stopped" in line["message"] for line in lines)
