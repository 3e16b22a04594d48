"""A worker process's loop: take post-call jobs off the SAQ queue in Redis and do them.

Each running job heartbeats every ``HEARTBEAT_EVERY_S``; each worker sweeps the queue
every ``SWEEP_S`` and puts back a job whose worker has been silent for ``HEARTBEAT_S``
(killed, frozen, its machine lost), to be done by another worker (``jobs.sweep``).
SIGTERM (or SIGINT) stops taking jobs, lets the one under way finish, and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from redis.exceptions import RedisError
from saq import Job, Worker

from .kinds import JobKind, PartJob
from .post_call import HANDLERS, Handler, JobContext, follow_ups
from .redis_queue import HEARTBEAT_EVERY_S, JOB_TIMEOUT_S, QUEUE_NAME, RedisJobQueue
from .sweep import CarefulRedisQueue

logger = logging.getLogger(__name__)

#: A job's arguments in, its outcome's name out: what a worker runs for a kind of job.
RawHandler = Callable[[dict[str, Any]], Awaitable[str]]
#: How often each worker looks for jobs whose worker went silent (seconds).
SWEEP_S = 2
#: An idle worker looks at the queue this often, and so notices SIGTERM (seconds).
DEQUEUE_WAIT_S = 1.0


def part_handlers(context: JobContext, queue: RedisJobQueue) -> dict[str, RawHandler]:
    """Our kinds of job, run with ``context``; what follows each is queued on ``queue``."""

    def adapt(kind: JobKind, handler: Handler) -> RawHandler:
        async def run(kwargs: dict[str, Any]) -> str:
            job = PartJob.from_kwargs(kind, kwargs)
            async with context.track(kind):
                outcome = await handler(context, job)
            logger.info("session %s: job %s %s", job.session_id, job.key, outcome.value)
            for then in follow_ups(context, job):
                await queue.enqueue(then)
            return outcome.value

        return run

    return {kind.value: adapt(kind, handler) for kind, handler in HANDLERS.items()}


async def serve(
    redis_url: str, handlers: Mapping[str, RawHandler], *, name: str = QUEUE_NAME
) -> None:
    """Do ``handlers``' jobs from the queue ``name`` one at a time until SIGTERM or SIGINT."""
    queue = CarefulRedisQueue.from_url(redis_url, name=name)
    functions = [(function, _with_heartbeat(run)) for function, run in handlers.items()]
    worker = Worker(
        queue,
        cast(Any, functions),
        concurrency=1,
        timers={"sweep": SWEEP_S, "abort": 1, "schedule": 1, "worker_info": SWEEP_S},
        dequeue_timeout=DEQUEUE_WAIT_S,
        # SIGTERM: the job under way is finished, however long it takes.
        shutdown_grace_period_s=JOB_TIMEOUT_S,
    )
    logger.info("worker %s: taking jobs %s from queue %s", worker.id, sorted(handlers), name)
    try:
        await worker.start()
    finally:
        await queue.disconnect()
    logger.info("worker %s: stopped", worker.id)


def _with_heartbeat(run: RawHandler) -> Callable[..., Awaitable[str]]:
    """The SAQ function that runs ``run`` and heartbeats its job meanwhile."""

    async def function(ctx: dict[str, Any], **kwargs: Any) -> str:
        beat = asyncio.create_task(_heartbeat(ctx["job"]))
        try:
            return await run(kwargs)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    return function


async def _heartbeat(job: Job) -> None:
    """Tell the queue the job is alive until cancelled."""
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY_S)
        try:
            await job.update()
        except RedisError as exc:  # the sweep may give the job to another worker
            logger.warning("job %s: heartbeat failed: %s", job.key, exc)
