"""Where post-call jobs are queued: the ``JobQueue`` interface, and its in-process kind.

The embedded default runs the jobs in the server's own process (``InProcessJobQueue``):
nothing outlives it, and a part whose composite was cut by a restart is left as it was
signed. With Redis the jobs are durable and done by ``dualrec worker`` processes
(``jobs.redis_queue``). Both queue a part's job of one kind once, by its key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from .errors import JobError, UnknownJobKind
from .kinds import JobKind, JobOutcome, PartJob
from .post_call import HANDLERS, Handler, JobContext, follow_ups

logger = logging.getLogger(__name__)


class JobQueue(Protocol):
    """Post-call jobs, queued by the call centre and done by whoever runs them."""

    async def enqueue(self, job: PartJob) -> bool:
        """Queue ``job``; False when the same part's job of that kind is queued already."""
        ...

    def running_here(self, job: PartJob) -> asyncio.Future[JobOutcome] | None:
        """The run of ``job`` under way in this process, if it runs here."""
        ...

    async def close(self) -> None:
        """Stop taking jobs; finish (in-process) or leave (durable) those queued."""
        ...


class InProcessJobQueue:
    """Runs each job as a task of this process; the composites in its process pool."""

    def __init__(self, context: JobContext, handlers: Mapping[JobKind, Handler] = HANDLERS) -> None:
        self.context = context
        self.handlers = dict(handlers)
        self._runs: dict[str, asyncio.Task[JobOutcome]] = {}
        self._closed = False

    async def enqueue(self, job: PartJob) -> bool:
        """Start ``job`` now unless the same one runs already."""
        if job.kind not in self.handlers:
            raise UnknownJobKind(job.kind.value)
        if self._closed:
            raise JobError(f"the job queue is closed: {job.key} not queued")
        if job.key in self._runs:
            return False
        run = asyncio.create_task(self._run(job), name=f"job {job.key}")
        self._runs[job.key] = run
        run.add_done_callback(lambda _: self._runs.pop(job.key, None))
        return True

    def running_here(self, job: PartJob) -> asyncio.Future[JobOutcome] | None:
        """The task running ``job``, until it is done."""
        return self._runs.get(job.key)

    async def _run(self, job: PartJob) -> JobOutcome:
        """Run the job, then the jobs that follow it (this run ends with theirs)."""
        try:
            async with self.context.track(job.kind):
                outcome = await self.handlers[job.kind](self.context, job)
        except Exception:
            logger.exception("session %s: job %s failed", job.session_id, job.key)
            return JobOutcome.FAILED
        logger.info("session %s: job %s %s", job.session_id, job.key, outcome.value)
        after = [then for then in follow_ups(self.context, job) if then.kind in self.handlers]
        for then in after:
            await self.enqueue(then)
        runs = [run for then in after if (run := self.running_here(then)) is not None]
        await asyncio.gather(*runs)
        return outcome

    async def close(self) -> None:
        """Wait for the jobs under way (a composite is quick next to a call)."""
        while self._runs:
            await asyncio.gather(*list(self._runs.values()), return_exceptions=True)
        self._closed = True
