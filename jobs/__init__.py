"""Post-call work on closed recording parts, run as jobs: composites, shipping, inspection.

``JobQueue`` is where the call centre puts a closed part's work: ``InProcessJobQueue``
runs it in the server's process (the embedded default), ``RedisJobQueue`` puts it on
the SAQ queue in Redis for ``dualrec worker`` processes (``jobs.worker.serve``).
"""

from .errors import JobError, UnknownJobKind
from .kinds import JobKind, JobOutcome, PartJob
from .post_call import HANDLERS, JobContext, composite_info
from .queue import InProcessJobQueue, JobQueue
from .redis_queue import QUEUE_NAME, RedisJobQueue

__all__ = [
    "HANDLERS",
    "QUEUE_NAME",
    "InProcessJobQueue",
    "JobContext",
    "JobError",
    "JobKind",
    "JobOutcome",
    "JobQueue",
    "PartJob",
    "RedisJobQueue",
    "UnknownJobKind",
    "composite_info",
]
