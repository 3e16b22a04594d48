"""Wiring the post-call jobs: the server's job queue, and the ``dualrec worker`` process.

Without Redis (the embedded default) the jobs run in the server's process, composites
in a spawned process pool of one worker (numpy and muxing hold the GIL: the calls'
event loop must not wait on them). With ``redis_url`` the server only queues them, and
``dualrec worker`` processes do them, each with a pool of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager, contextmanager

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from inspection import Limits, SpeechLimits
from jobs import InProcessJobQueue, JobContext, JobQueue, RedisJobQueue
from jobs.worker import part_handlers, serve
from media import load_or_create_signing_key
from media.archive import composite_worker_init
from observability import JobMetrics, Metrics
from storage import Database
from storage.shipping import RecordingShipper
from storage.shipping_setup import open_shipper
from workflow import Flow, load_flows

from .observe import metrics_server
from .settings import Settings, SettingsError

logger = logging.getLogger(__name__)

#: How long a worker's ship job waits for its part's uploads before it is tried again.
SHIP_WAIT_S = 300.0


def inspection_limits(settings: Settings) -> Limits:
    """The inspection's limits with the speech models the settings name."""
    return Limits(speech=SpeechLimits(models=settings.speech_models))


@contextmanager
def composite_pool() -> Iterator[ProcessPoolExecutor]:
    """One spawned, lower-priority process for composites, gone with its parent."""
    with ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=composite_worker_init
    ) as pool:
        yield pool


@asynccontextmanager
async def job_queue(
    settings: Settings,
    db: Database,
    key: Ed25519PrivateKey,
    flows: Mapping[str, Flow],
    shipper: RecordingShipper | None,
    metrics: JobMetrics | None = None,
) -> AsyncIterator[JobQueue]:
    """The server's job queue: in this process, or on Redis with ``redis_url``."""
    if settings.redis_url is not None:
        queue = RedisJobQueue(settings.redis_url)
        try:
            yield queue
        finally:
            await queue.close()
        return
    with composite_pool() as pool:
        context = JobContext(
            db,
            settings.recordings_dir,
            key,
            flows,
            settings.timezone,
            pool,
            shipper,
            metrics=metrics,
            limits=inspection_limits(settings),
        )
        in_process = InProcessJobQueue(context)
        try:
            yield in_process
        finally:
            await in_process.close()


async def run_worker(settings: Settings, queue_name: str, metrics_port: int | None = None) -> None:
    """Do post-call jobs from the Redis queue until SIGTERM (``dualrec worker``).

    With ``metrics_port`` the worker serves its ``/metrics`` there (to the metrics token).
    """
    if settings.redis_url is None:
        raise SettingsError("dualrec worker takes its jobs from Redis: give --redis-url")
    settings.check_cluster()
    key_path = settings.signing_key_path
    if not key_path.is_file():  # a key of its own would sign what the nodes cannot vouch for
        raise SettingsError(f"no signing key at {key_path}: give the nodes' --data-dir")
    key = await asyncio.to_thread(load_or_create_signing_key, key_path)
    metrics = Metrics(node=settings.node_name, process="worker")
    share = settings.review_sample_share
    async with (
        Database(settings.database, review_sample_share=share) as db,
        contextlib.AsyncExitStack() as stack,
    ):
        if metrics_port is not None:
            scrape = metrics_server(settings, metrics, metrics_port, db)
            url = await stack.enter_async_context(scrape)
            logger.info("worker metrics at %s/metrics", url)
        shipper = await open_shipper(settings, db)
        try:
            with composite_pool() as pool:
                context = JobContext(
                    db,
                    settings.recordings_dir,
                    key,
                    load_flows(),
                    settings.timezone,
                    pool,
                    shipper,
                    ship_wait_s=SHIP_WAIT_S,
                    metrics=metrics.jobs,
                    limits=inspection_limits(settings),
                )
                follow = RedisJobQueue(settings.redis_url, queue_name)
                try:
                    await serve(settings.redis_url, part_handlers(context, follow), name=queue_name)
                finally:
                    await follow.close()
        finally:
            if shipper is not None:
                await shipper.close()
