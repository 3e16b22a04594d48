"""SAQ's Redis queue with a sweep that waits for a second look before it takes a job back.

A SAQ worker moves a job to the active list, then marks it active: a sweep that reads
the list in between finds a job "not active" and puts it back on the queue, and the job
runs twice (saq issue #277, still open for Redis; fixed for PostgreSQL in saq 0.24.12).
This queue's sweep takes back a job whose heartbeat stopped (``Job.stuck``) as SAQ's
does, but one found not active only when its previous sweep found it so too, two sweeps
apart: a worker marks a job active within milliseconds, or it died doing so.
"""

from __future__ import annotations

import logging
from typing import Any

from saq import Status
from saq.queue.redis import RedisQueue

logger = logging.getLogger(__name__)

#: SAQ's own script: under the sweep lock, the active list's jobs with their data.
_ACTIVE_JOBS = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        id_jobs[i] = {v, redis.call('GET', v)}
    end
end
return id_jobs
"""


class CarefulRedisQueue(RedisQueue):
    """A SAQ Redis queue whose sweep never takes back a job just being started."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._active_jobs: Any = None
        #: Jobs the last sweep found in the active list but not marked active.
        self._not_active: set[bytes] = set()

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        """Put back the jobs of dead workers (SAQ's sweep, with the second look)."""
        if self._active_jobs is None:
            self._active_jobs = self.redis.register_script(_ACTIVE_JOBS)
        keys = [self.namespace("sweep"), self.namespace("active")]
        id_jobs = await self._active_jobs(keys=keys, args=[lock], client=self.redis)
        if not id_jobs:  # another worker holds the sweep lock, or nothing runs
            return []
        swept: list[str] = []
        not_active: set[bytes] = set()
        for job_id, job_bytes in id_jobs:
            job = self.deserialize(job_bytes)
            if job is None:  # its data expired: SAQ drops the id
                async with self.redis.pipeline(transaction=True) as pipe:
                    await (
                        pipe.lrem(self.namespace("active"), 0, job_id)
                        .zrem(self.namespace("incomplete"), job_id)
                        .execute()
                    )
                swept.append(job_id.decode())
                continue
            if job.status is not Status.ACTIVE and not job.stuck:
                if job_id not in self._not_active:
                    not_active.add(job_id)  # perhaps being started: look again next time
                    continue
            elif not job.stuck:
                continue
            logger.info("sweeping job %s (%s)", job.key, job.status)
            swept.append(job_id.decode())
            await self.abort(job, error=self.swept_error_message)
            try:
                await job.refresh(abort)
            except TimeoutError:
                logger.info("job %s: its worker did not answer the abort", job.key)
            if job.retryable:
                await self.retry(job, error=self.swept_error_message)
            else:
                await self.finish(job, Status.ABORTED, error=self.swept_error_message)
        self._not_active = not_active
        return swept
