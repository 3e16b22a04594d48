"""Jobs on Redis, done by real worker processes: once per key, finished by another worker
when one is killed mid-job, and finished before a worker stops on SIGTERM.

The workers run ``jobs.worker.serve`` (SAQ, heartbeats, sweeps) in their own processes with
the test kind ``gated`` registered (``tests.jobs.gated_worker``): a job that waits for a
file the test makes, so that the test catches it mid-way without racing it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from saq import Status

from jobs import JobKind, PartJob, RedisJobQueue
from jobs.redis_queue import HEARTBEAT_S
from jobs.worker import SWEEP_S
from tests.jobs.conftest import JobsRedis, Processes
from tests.jobs.gated_worker import GATED, marks

#: A killed worker's job is started again by another within this bound: its heartbeat
#: missed (HEARTBEAT_S), the next sweep (SWEEP_S), SAQ's wait for the abort (5 s), with
#: room for a busy machine. With arq it would wait out the whole job time-out.
RECOVERY_BOUND_S = HEARTBEAT_S + SWEEP_S + 5 + 20
#: Anything else a worker is waited for (starting, taking a queued job, stopping).
WAIT_S = 30.0


async def until(check: Callable[[], bool], timeout: float = WAIT_S, what: str = "") -> None:
    """Wait until ``check()`` holds (fails the test after ``timeout``)."""
    try:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"not within {timeout:.0f} s: {what}")


def start_worker(processes: Processes, redis: JobsRedis, folder: Path) -> subprocess.Popen[str]:
    """A gated worker process on the test's queue."""
    n = len(processes.started)
    return processes.start(
        "-m",
        "tests.jobs.gated_worker",
        redis.url,
        redis.queue,
        str(folder),
        log=folder / f"worker-{n}.out",
    )


async def job_status(queue: RedisJobQueue, key: str) -> tuple[Status | None, int]:
    """The job's status and how many runs it was given."""
    job = await queue.queue.job(key)
    return (None, 0) if job is None else (job.status, job.attempts)


async def test_a_job_queued_twice_runs_once(
    jobs_redis: JobsRedis, processes: Processes, tmp_path: Path
) -> None:
    queue = RedisJobQueue(jobs_redis.url, jobs_redis.queue)
    try:
        log = tmp_path / "twice.log"
        assert await queue.submit(GATED, "twice", {"name": "twice"})
        assert not await queue.submit(GATED, "twice", {"name": "twice"})  # queued already
        worker = start_worker(processes, jobs_redis, tmp_path)
        await until(lambda: marks(log) != [], what="the worker takes the job")
        assert not await queue.submit(GATED, "twice", {"name": "twice"})  # running
        (tmp_path / "twice.go").touch()
        await until(lambda: len(marks(log)) == 2, what="the job finishes")
        await until_complete(queue, "twice")
        assert marks(log) == [("start", worker.pid), ("finish", worker.pid)]
        assert await job_status(queue, "twice") == (Status.COMPLETE, 1)
    finally:
        await queue.close()


async def until_complete(queue: RedisJobQueue, key: str) -> None:
    """Wait until SAQ has the job complete."""
    async with asyncio.timeout(WAIT_S):
        while (await job_status(queue, key))[0] is not Status.COMPLETE:
            await asyncio.sleep(0.05)


async def test_a_part_job_has_one_key_per_kind_and_part(jobs_redis: JobsRedis) -> None:
    queue = RedisJobQueue(jobs_redis.url, jobs_redis.queue)
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    composite = PartJob(JobKind.COMPOSITE, "s1", 2, "card_opening", at)
    try:
        assert await queue.enqueue(composite)
        assert not await queue.enqueue(composite)
        assert await queue.enqueue(composite.then(JobKind.SHIP))
        assert await queue.enqueue(PartJob(JobKind.COMPOSITE, "s1", 3, "card_opening", at))
        stored = await queue.queue.job(composite.key)
        assert stored is not None and stored.function == "composite"
        assert PartJob.from_kwargs(JobKind.COMPOSITE, stored.kwargs or {}) == composite
        inspect = composite.then(JobKind.INSPECT)  # the inspection has its handler now
        assert await queue.enqueue(inspect) and not await queue.enqueue(inspect)
        stored = await queue.queue.job(inspect.key)
        assert stored is not None and stored.function == "inspect_part"
    finally:
        await queue.close()


async def test_a_worker_killed_mid_job_leaves_it_to_another_once(
    jobs_redis: JobsRedis, processes: Processes, tmp_path: Path
) -> None:
    queue = RedisJobQueue(jobs_redis.url, jobs_redis.queue)
    log = tmp_path / "killed.log"
    try:
        workers = {w.pid: w for w in (start_worker(processes, jobs_redis, tmp_path) for _ in "ab")}
        assert await queue.submit(GATED, "killed", {"name": "killed"})
        await until(lambda: marks(log) != [], what="a worker takes the job")
        [(_, first)] = marks(log)
        workers[first].send_signal(signal.SIGKILL)  # mid-job: it waits for its file
        workers[first].wait(timeout=WAIT_S)
        await until(
            lambda: len(marks(log)) == 2,
            timeout=RECOVERY_BOUND_S,
            what="the other worker starts the killed worker's job again",
        )
        [second] = set(workers) - {first}
        assert marks(log) == [("start", first), ("start", second)]
        (tmp_path / "killed.go").touch()
        await until(lambda: len(marks(log)) == 3, what="the job finishes")
        await until_complete(queue, "killed")
        # Done by the second worker, once; SAQ counts the killed worker's run as one.
        assert marks(log)[2:] == [("finish", second)]
        assert await job_status(queue, "killed") == (Status.COMPLETE, 2)
        assert await queue.queue.count("incomplete") == 0  # nothing left to run it again
    finally:
        await queue.close()


async def test_sigterm_lets_the_job_under_way_finish_then_the_worker_exits(
    jobs_redis: JobsRedis, processes: Processes, tmp_path: Path
) -> None:
    queue = RedisJobQueue(jobs_redis.url, jobs_redis.queue)
    log = tmp_path / "term.log"
    try:
        worker = start_worker(processes, jobs_redis, tmp_path)
        assert await queue.submit(GATED, "term", {"name": "term"})
        await until(lambda: marks(log) != [], what="the worker takes the job")
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(1)  # not a measure: a worker that stopped at once would be gone
        assert worker.poll() is None, "the worker left its job"
        (tmp_path / "term.go").touch()
        assert await asyncio.to_thread(worker.wait, WAIT_S) == 0
        assert marks(log) == [("start", worker.pid), ("finish", worker.pid)]
        assert await job_status(queue, "term") == (Status.COMPLETE, 1)
    finally:
        await queue.close()
