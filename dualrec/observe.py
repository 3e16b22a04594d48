"""The node's metrics wired to the running application (see ``observability``).

``setup_observability`` mounts ``/metrics`` and tells the metrics where the live state
is: the calls and the queue through the console's ``LiveCalls`` view (the call centre's
own overview, wherever its queue lives), the media frame totals of the call centre's
relays, the database's driver errors and the event-loop lag. Everything is looked up
when a scrape asks, so it works before the call centre has started (nothing reported)
and after it has. A process without pages (``dualrec worker``) serves its own
``/metrics`` with ``metrics_server``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping

from aiohttp import web

import agent_console
from common import Role
from observability import (
    FrameTotals,
    LiveSources,
    Metrics,
    MetricsAccess,
    Waiting,
    setup_metrics_route,
)
from signaling.lag import LagMonitor
from signaling.server import CENTRE, LAG
from signaling.webauth import any_signed_in_user
from storage import Database

from .request_log import RUNNER_OPTIONS
from .security_headers import setup_security_headers
from .settings import Settings

#: The window of ``dualrec_event_loop_lag_max_seconds``.
LAG_WINDOW_S = 60.0


class _AppState:
    """Reads the live state off the application at each scrape."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def services(self) -> Iterable[str]:
        return self._app[agent_console.LIVE_CALLS].service_titles().keys()

    async def live_calls(self) -> int:
        return len(self._app[agent_console.LIVE_CALLS].calls())

    async def waiting(self) -> Iterable[Waiting]:
        return [
            Waiting(str(entry["service"]), float(entry["waited_s"]))
            for entry in self._app[agent_console.LIVE_CALLS].waiting()
        ]

    async def frames(self) -> FrameTotals:
        counts = self._app[CENTRE].media.frames
        return FrameTotals(
            received=dict(counts.received),
            forwarded=dict(counts.forwarded),
            recorded=dict(counts.recorded),
            dropped=dict(counts.dropped),
        )

    async def database_errors(self) -> Mapping[str, int]:
        return self._app[agent_console.DATABASE].errors.snapshot()

    async def loop_lag_max_s(self) -> float:
        return self._app[LAG].worst_s(time.time() - LAG_WINDOW_S)


async def _signed_in_role(request: web.Request) -> Role | None:
    user = await any_signed_in_user(request)
    return None if user is None else user.role


def setup_observability(app: web.Application, settings: Settings) -> Metrics:
    """Make the node's metrics, feed them the loop lag and mount ``/metrics``."""
    metrics = Metrics(node=settings.node_name, process="node")
    state = _AppState(app)
    metrics.watch(
        LiveSources(
            services=state.services,
            live_calls=state.live_calls,
            waiting=state.waiting,
            frames=state.frames,
            database_errors=state.database_errors,
            loop_lag_max_s=state.loop_lag_max_s,
        )
    )
    app[LAG].listeners.append(metrics.lagged)
    setup_metrics_route(
        app, metrics, MetricsAccess(token=settings.metrics_token, signed_in=_signed_in_role)
    )
    return metrics


@contextlib.asynccontextmanager
async def metrics_server(
    settings: Settings, metrics: Metrics, port: int, db: Database | None = None
) -> AsyncIterator[str]:
    """``/metrics`` of a process with no pages (a worker) on ``port``, while inside; its URL.

    Only the token opens it (nobody signs in to a worker). It reports ``db``'s driver
    errors and the process's event-loop lag besides what the process observes itself.
    """
    lag = LagMonitor()
    lag.listeners.append(metrics.lagged)

    async def worst_lag() -> float:
        return lag.worst_s(time.time() - LAG_WINDOW_S)

    async def database_errors() -> Mapping[str, int]:
        if db is None:
            raise LookupError("no database")
        return db.errors.snapshot()

    metrics.watch(LiveSources(database_errors=database_errors, loop_lag_max_s=worst_lag))
    app = web.Application()
    setup_security_headers(app)
    setup_metrics_route(app, metrics, MetricsAccess(token=settings.metrics_token))
    runner = web.AppRunner(app, handle_signals=False, **RUNNER_OPTIONS)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, port).start()
        lag.start()
        yield f"http://{settings.host}:{runner.addresses[0][1]}"
    finally:
        await lag.stop()
        await runner.cleanup()
