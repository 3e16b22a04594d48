"""Wiring a server into several nodes (``--redis-url``): join, drain on SIGTERM, leave.

``setup_nodes`` is called by ``create_app`` when Redis is configured. The node joins
after the call centre exists and leaves before it stops; on SIGTERM it drains first
(``signaling.draining``), while its sockets are still open.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web
from redis.exceptions import RedisError

from cluster import RedisSettings, connect
from observability import METRICS
from signaling.draining import drain
from signaling.federation import Federation
from signaling.server import CENTRE
from signaling.sockets import OPEN_SOCKETS

from .settings import Settings, SettingsError

logger = logging.getLogger(__name__)

FEDERATION = web.AppKey("federation", Federation)
_SETTINGS = web.AppKey("node_settings", Settings)


def setup_nodes(app: web.Application, settings: Settings) -> None:
    """Make the app one of several nodes; call before the signalling socket is set up."""
    app[_SETTINGS] = settings
    app.cleanup_ctx.append(_membership)
    # Before the sockets are closed (signaling.server closes them on shutdown).
    app.on_shutdown.append(_drain)


async def _membership(app: web.Application) -> AsyncIterator[None]:
    settings = app[_SETTINGS]
    assert settings.redis_url is not None
    redis = connect(RedisSettings(settings.redis_url))
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        raise SettingsError(f"Redis at --redis-url cannot be reached: {exc}") from None
    centre = app[CENTRE]
    federation = Federation(
        centre,
        redis,
        settings.node_name,
        f"http://{settings.host}:{settings.port}",
        signing_key=centre.signing_key,
        recordings_dir=settings.recordings_dir,
    )
    centre.nodes = federation
    federation.count_errors(app[METRICS].redis_error)
    sockets = app[OPEN_SOCKETS]
    federation.close_sockets = sockets.closed_elsewhere

    def elsewhere(kind: str, what: dict[str, str]) -> None:
        federation.tasks.spawn(federation.broadcast_close(kind, what))

    sockets.elsewhere = elsewhere
    await federation.start()
    app[FEDERATION] = federation
    # SIGTERM drains first, while the sockets still work (aiohttp's own shutdown stops
    # reading them), then stops the server as SIGINT does.
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: federation.tasks.spawn(_drain_then_stop(app))
    )
    peers = len(federation.registry.peers)
    logger.info("node %s joined (%d other nodes)", settings.node_name, peers)
    try:
        yield
    finally:
        await federation.stop()
        await redis.aclose()


async def _drain_then_stop(app: web.Application) -> None:
    await _drain(app)
    signal.raise_signal(signal.SIGINT)


async def _drain(app: web.Application) -> None:
    if FEDERATION in app:
        await drain(app[CENTRE], app[FEDERATION], app[OPEN_SOCKETS], app[_SETTINGS].drain_grace_s)
