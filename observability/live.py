"""Metrics read from the running application when ``/metrics`` is scraped.

Live calls, the queue per service, the frame totals and the database's errors are state
the application already keeps; copying them into gauges on every change would put work
on the hot paths. ``LiveCollector`` asks the ``LiveSources`` the application wired in
instead, once per scrape. A source that is not there yet (the call centre starts after
the routes are mounted) or fails is left out of that scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Waiting:
    """One waiting customer, as the metrics see them: the service and the wait so far."""

    service: str
    waited_s: float


@dataclass(frozen=True)
class FrameTotals:
    """Frames per media kind since the process started (see ``media.counts``)."""

    received: Mapping[str, int]
    forwarded: Mapping[str, int]
    recorded: Mapping[str, int]
    #: By (kind, reason).
    dropped: Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class LiveSources:
    """Where a scrape reads the live state; each is awaited for a fresh value."""

    #: The services offered: each gets a queue figure, 0 when nobody waits for it.
    services: Callable[[], Awaitable[Iterable[str]]] | None = None
    #: Calls with an agent on this node (matched, connecting, recording or closing).
    live_calls: Callable[[], Awaitable[int]] | None = None
    #: The waiting customers (read through the call centre's queue overview).
    waiting: Callable[[], Awaitable[Iterable[Waiting]]] | None = None
    frames: Callable[[], Awaitable[FrameTotals]] | None = None
    #: Database driver errors by exception type.
    database_errors: Callable[[], Awaitable[Mapping[str, int]]] | None = None
    #: The worst event-loop lag over the last minute, in seconds.
    loop_lag_max_s: Callable[[], Awaitable[float]] | None = None


@dataclass
class Snapshot:
    """The live state as one scrape read it (None: its source is not there, or failed)."""

    services: list[str] = field(default_factory=list)
    live_calls: int | None = None
    waiting: list[Waiting] | None = None
    frames: FrameTotals | None = None
    database_errors: Mapping[str, int] | None = None
    loop_lag_max_s: float | None = None


async def _read(name: str, source: Callable[[], Awaitable[T]] | None) -> T | None:
    if source is None:
        return None
    try:
        return await source()
    except LookupError:
        return None  # not there yet (the call centre starts after the routes are mounted)
    except Exception:  # a broken source must not take the other metrics down
        logger.exception("metrics: the live source %s failed", name)
        return None


class LiveCollector(Collector):
    """Yields the live-state metrics: ``refresh()`` reads the sources, ``collect()`` reports.

    Reading is asynchronous (the queue may be in Redis) and prometheus-client collects
    synchronously, so the endpoint awaits ``refresh()`` just before it renders.
    """

    def __init__(self, sources: LiveSources) -> None:
        self.sources = sources
        self.snapshot = Snapshot()

    async def refresh(self) -> None:
        """Read every source now."""
        src = self.sources
        services = await _read("services", src.services)
        waiting = await _read("waiting", src.waiting)
        self.snapshot = Snapshot(
            services=sorted(services or ()),
            live_calls=await _read("live_calls", src.live_calls),
            waiting=None if waiting is None else list(waiting),
            frames=await _read("frames", src.frames),
            database_errors=await _read("database_errors", src.database_errors),
            loop_lag_max_s=await _read("loop_lag_max_s", src.loop_lag_max_s),
        )

    def collect(self) -> Iterator[Metric]:
        """The metrics of the last ``refresh()``."""
        snap = self.snapshot
        if snap.live_calls is not None:
            yield GaugeMetricFamily(
                "dualrec_live_calls",
                "Calls with an agent on this node (matched to closing)",
                value=snap.live_calls,
            )
        if snap.waiting is not None:
            yield from _queue(snap.services, snap.waiting)
        if snap.frames is not None:
            yield from _frames(snap.frames)
        if snap.database_errors is not None:
            family = CounterMetricFamily(
                "dualrec_database_errors",
                "Errors the database driver raised (connections and statements), by type",
                labels=["error"],
            )
            for error, value in sorted(snap.database_errors.items()):
                family.add_metric([error], value)
            yield family
        if snap.loop_lag_max_s is not None:
            yield GaugeMetricFamily(
                "dualrec_event_loop_lag_max_seconds",
                "The worst event-loop lag over the last minute",
                value=snap.loop_lag_max_s,
            )


def _queue(services: list[str], waiting: list[Waiting]) -> Iterator[Metric]:
    length = dict.fromkeys(services, 0)
    longest = dict.fromkeys(services, 0.0)
    for entry in waiting:
        length[entry.service] = length.get(entry.service, 0) + 1
        longest[entry.service] = max(longest.get(entry.service, 0.0), entry.waited_s)
    size = GaugeMetricFamily(
        "dualrec_queue_length",
        "Customers waiting for an agent on this node, by service",
        labels=["service"],
    )
    wait = GaugeMetricFamily(
        "dualrec_queue_longest_wait_seconds",
        "How long this node's longest-waiting customer has waited, by service (0: nobody)",
        labels=["service"],
    )
    for service in sorted(length):
        size.add_metric([service], length[service])
        wait.add_metric([service], longest[service])
    yield size
    yield wait


def _frames(totals: FrameTotals) -> Iterator[Metric]:
    for name, counts, what in (
        ("received", totals.received, "Frames taken whole from a party"),
        ("forwarded", totals.forwarded, "Frames sent on to the other party"),
        ("recorded", totals.recorded, "Frames handed to the recording"),
    ):
        family = CounterMetricFamily(
            f"dualrec_media_frames_{name}", f"{what}, by media kind", labels=["kind"]
        )
        for kind, value in sorted(counts.items()):
            family.add_metric([kind], value)
        yield family
    dropped = CounterMetricFamily(
        "dualrec_media_frames_dropped",
        "Frames neither forwarded nor recorded, by media kind and reason",
        labels=["kind", "reason"],
    )
    for (kind, reason), value in sorted(totals.dropped.items()):
        dropped.add_metric([kind, reason], value)
    yield dropped
