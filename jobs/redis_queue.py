"""Durable post-call jobs on Redis with SAQ: the queue the nodes put jobs on.

SAQ (Simple Async Queue) keeps each job under its own key: a job queued again while
the same part's job of that kind is queued or running is refused by SAQ's enqueue
script in one atomic step. Jobs are done by ``dualrec worker`` processes
(``jobs.worker``), which heartbeat each running job; a worker that dies (kill -9, a lost
machine) stops heartbeating, and another worker's sweep puts its job back on the
queue within seconds, where it is done again: the handlers find what was done
already, so the work is done once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError
from saq import Job
from saq.queue.redis import RedisQueue

from .errors import JobError, UnknownJobKind
from .kinds import JobOutcome, PartJob
from .post_call import HANDLERS

#: The queue's name (its Redis keys are ``saq:<name>:*``).
QUEUE_NAME = "dualrec-jobs"
#: A running job tells it is alive this often (seconds) ...
HEARTBEAT_EVERY_S = 2.0
#: ... and is taken for dead, and queued again, after this long without a word.
HEARTBEAT_S = 10
#: The longest a job may run (a composite of a long call takes minutes; a hung one ends).
JOB_TIMEOUT_S = 3 * 3600
#: Runs of a job before it is given up (a dead worker's run counts as one).
RETRIES = 5
#: A failed run is tried again after this long (doubling, at most 10 minutes).
RETRY_DELAY_S = 5.0
#: A finished job is kept this long for the record (seconds).
KEEP_S = 24 * 3600


def saq_job(function: str, key: str, kwargs: dict[str, Any]) -> Job:
    """The SAQ job of one of our jobs: heartbeat, time-out and retries set."""
    return Job(
        function=function,
        kwargs=kwargs,
        key=key,
        timeout=JOB_TIMEOUT_S,
        heartbeat=HEARTBEAT_S,
        retries=RETRIES,
        retry_delay=RETRY_DELAY_S,
        retry_backoff=600,
        ttl=KEEP_S,
    )


class RedisJobQueue:
    """Puts post-call jobs on the SAQ queue in Redis, for ``dualrec worker`` processes."""

    def __init__(self, redis_url: str, name: str = QUEUE_NAME) -> None:
        self.name = name
        self.queue = RedisQueue.from_url(redis_url, name=name)

    async def enqueue(self, job: PartJob) -> bool:
        """Queue ``job`` under its key; False when it is queued or running already."""
        if job.kind not in HANDLERS:
            raise UnknownJobKind(job.kind.value)
        return await self.submit(job.kind.value, job.key, job.to_kwargs())

    async def submit(self, function: str, key: str, kwargs: dict[str, Any]) -> bool:
        """Queue a call of the worker's ``function`` under ``key``, once."""
        try:
            queued = await self.queue.enqueue(saq_job(function, key, kwargs))
        except RedisError as exc:
            raise JobError(f"cannot queue {key}: {exc}") from exc
        return queued is not None

    def running_here(self, job: PartJob) -> asyncio.Future[JobOutcome] | None:
        """None: the jobs run in worker processes."""
        return None

    async def close(self) -> None:
        """Let go of Redis; the queued jobs stay for the workers."""
        await self.queue.disconnect()
