"""The Prometheus metrics of one node or worker, each process's in its own registry.

Two kinds live here. Those observed where things happen (``queue_wait``,
``pairing_latency``, ``loop_lag``, the job and Redis metrics) are prometheus-client
objects their callers update. Those that describe live state (calls, the queue, frame
totals, database errors) are read only when ``/metrics`` is scraped, from the
``LiveSources`` the application wires in (see ``observability.live``): the media path
keeps plain integers and never calls into this package.

A ``CollectorRegistry`` per ``Metrics`` (never prometheus-client's global one), so that
several applications in one process (the tests) do not clash.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from .live import LiveCollector, LiveSources

#: Seconds a customer may wait for an agent: from a moment to half an hour.
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
#: Seconds from an agent's accept to both parties connected to the relay.
PAIRING_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
#: Seconds the event loop ran a timer late (probed every 50 ms by signaling.lag).
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class JobMetrics:
    """What the post-call jobs (composites, shipping, inspection) report.

    ``jobs/`` calls these: ``queued(kind, n)`` with the depth it reads from its queue,
    and around each run ``async with metrics.jobs.track(kind):`` (or ``started(kind)``
    and ``finished(kind, ok=...)`` by hand). ``running`` goes back down on every
    ``finished``, failed or not; a run that raises counts as failed.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.queued_gauge = Gauge(
            "dualrec_jobs_queued",
            "Jobs waiting to be taken, by kind",
            ["kind"],
            registry=registry,
        )
        self.running_gauge = Gauge(
            "dualrec_jobs_running",
            "Jobs this process is running now, by kind",
            ["kind"],
            registry=registry,
        )
        self.failed_counter = Counter(
            "dualrec_jobs_failed",
            "Job runs that failed (each try counts), by kind",
            ["kind"],
            registry=registry,
        )
        self.done_counter = Counter(
            "dualrec_jobs_done",
            "Job runs that succeeded, by kind",
            ["kind"],
            registry=registry,
        )

    def queued(self, kind: str, waiting: int) -> None:
        """``waiting`` jobs of ``kind`` are in the queue now."""
        self.queued_gauge.labels(kind=kind).set(waiting)

    def started(self, kind: str) -> None:
        """This process began a job of ``kind``."""
        self.running_gauge.labels(kind=kind).inc()

    def finished(self, kind: str, *, ok: bool) -> None:
        """A job of ``kind`` this process ran has ended, done or failed."""
        self.running_gauge.labels(kind=kind).dec()
        (self.done_counter if ok else self.failed_counter).labels(kind=kind).inc()

    @contextlib.asynccontextmanager
    async def track(self, kind: str) -> AsyncIterator[None]:
        """Count one run of a job of ``kind``: running while inside, failed if it raises."""
        self.started(kind)
        ok = False
        try:
            yield
            ok = True
        finally:
            self.finished(kind, ok=ok)


class Metrics:
    """Every metric one process exposes, in its own registry."""

    def __init__(self, node: str = "", process: str = "node") -> None:
        self.registry = CollectorRegistry()
        info = Gauge(
            "dualrec_node_info",
            "This process: its node id and whether it is a node or a worker (always 1)",
            ["node", "process"],
            registry=self.registry,
        )
        info.labels(node=node, process=process).set(1)
        self.queue_wait = Histogram(
            "dualrec_queue_wait_seconds",
            "Time a customer waited in the queue before an agent took the call, by service",
            ["service"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.pairing_latency = Histogram(
            "dualrec_pairing_latency_seconds",
            "Time from an agent's accept to both parties connected to the relay, by service",
            ["service"],
            buckets=PAIRING_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "dualrec_event_loop_lag_seconds",
            "How late the event loop ran a timer probed every 50 ms",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "dualrec_redis_errors",
            "Redis commands or connections that failed, by operation",
            ["operation"],
            registry=self.registry,
        )
        self.jobs = JobMetrics(self.registry)
        #: The live-state metrics, once ``watch`` has wired their sources.
        self.live: LiveCollector | None = None

    def watch(self, sources: LiveSources) -> None:
        """Report the live state read from ``sources`` at each scrape (once per process)."""
        if self.live is not None:
            raise RuntimeError("the live sources are already wired")
        self.live = LiveCollector(sources)
        self.registry.register(self.live)

    async def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """Everything, the live state read just now: the body and its content type.

        The format is chosen from the scraper's ``Accept`` header as prometheus-client's
        own server does (the classic text format unless OpenMetrics is asked for).
        """
        if self.live is not None:
            await self.live.refresh()
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def waited(self, service: str, seconds: float) -> None:
        """A customer of ``service`` was matched with an agent after ``seconds`` queued."""
        self.queue_wait.labels(service=service).observe(max(0.0, seconds))

    def paired(self, service: str, seconds: float) -> None:
        """Both parties of a ``service`` call connected ``seconds`` after the accept."""
        self.pairing_latency.labels(service=service).observe(max(0.0, seconds))

    def lagged(self, seconds: float) -> None:
        """One probe of the event loop found it ``seconds`` late."""
        self.loop_lag.observe(seconds)

    def redis_error(self, operation: str) -> None:
        """A Redis ``operation`` (a short fixed name, never a key) failed."""
        self.redis_errors.labels(operation=operation).inc()
