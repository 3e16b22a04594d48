"""Event-loop lag: how late the loop runs a timer, for operators and benchmarks."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable

#: How often the loop is probed, in seconds.
INTERVAL_S = 0.05


class LagMonitor:
    """Probes the running loop and keeps the last ten minutes of lag samples."""

    def __init__(self, keep_s: float = 600.0) -> None:
        #: (Unix time, lag in seconds) of every probe, newest last.
        self.samples: deque[tuple[float, float]] = deque(maxlen=int(keep_s / INTERVAL_S))
        self._task: asyncio.Task[None] | None = None
        #: Called with each probe's lag in seconds (the metrics' histogram).
        self.listeners: list[Callable[[float], None]] = []

    def start(self) -> None:
        """Start probing on the running loop."""
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + INTERVAL_S
            await asyncio.sleep(INTERVAL_S)
            lag = max(0.0, loop.time() - due)
            self.samples.append((time.time(), lag))
            for listener in self.listeners:
                listener(lag)

    def worst_s(self, since: float) -> float:
        """The worst lag in seconds since ``since`` (Unix time); 0 without samples."""
        recent = itertools.takewhile(lambda sample: sample[0] >= since, reversed(self.samples))
        return max((lag for _, lag in recent), default=0.0)

    def summary(self, since: float = 0.0) -> dict[str, float]:
        """Lag in milliseconds since ``since`` (Unix time): max, p99 and median."""
        lags = sorted(lag for at, lag in self.samples if at >= since)
        if not lags:
            return {"samples": 0, "max_ms": 0.0, "p99_ms": 0.0, "median_ms": 0.0}
        return {
            "samples": len(lags),
            "max_ms": round(lags[-1] * 1000, 1),
            "p99_ms": round(lags[int(0.99 * (len(lags) - 1))] * 1000, 1),
            "median_ms": round(lags[len(lags) // 2] * 1000, 1),
        }
