"""Draining a node (SIGTERM among several): no new calls, the waiting handed over, the
live calls given time to end, then interrupted so that they resume on another node.

The node's listening socket is already closed (the load balancer sends new connections
elsewhere). Waiting customers keep their places: their sessions are set aside in the
shared queue and their kiosks' sockets closed, so the kiosks reconnect through the load
balancer to another node and resume there. Live calls run on for ``grace_s``; those
still going are then closed as interrupted (their recording parts closed and signed)
and their kiosks sent elsewhere likewise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from common import Role

from .failover import HELD_S
from .session import LiveSession
from .sockets import OpenSockets

if TYPE_CHECKING:
    from .federation import Federation
    from .hub import CallCentre

logger = logging.getLogger(__name__)

#: How often a draining node looks again at its calls (seconds).
POLL_S = 0.5


async def drain(
    centre: CallCentre, federation: Federation, sockets: OpenSockets, grace_s: float
) -> None:
    """Hand over the waiting, let the live calls end (up to ``grace_s``), interrupt the rest."""
    await federation.registry.set_draining()
    deadline = time.monotonic() + grace_s
    logger.warning("draining: %d calls, up to %g s", len(centre.sessions), grace_s)
    while True:
        await _hand_over_waiting(centre, federation, sockets)
        live = [s for s in centre.sessions.values() if s.agent is not None]
        if not live or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    for session in [s for s in centre.sessions.values() if s.agent is not None]:
        await centre.end_session(session, "node draining", by="server", hold=True)
        sockets.hand_over(Role.KIOSK, session.kiosk.name)
    for session in list(centre.held.values()):
        await _keep_agent(federation, session)
        await federation.disown(session)
    logger.warning("drained: no call left")


async def _hand_over_waiting(
    centre: CallCentre, federation: Federation, sockets: OpenSockets
) -> None:
    waiting = list(centre.queue)
    if not waiting:
        return
    # Out of the shared queue, but their entries (and places) kept for the next node.
    await federation.shared.set_aside([s.id for s in waiting])
    for session in waiting:
        centre.queue.forget(session)
        centre.sessions.pop(session.id, None)
        session.kiosk.session = None
        await federation.disown(session)
        sockets.hand_over(Role.KIOSK, session.kiosk.name)
        logger.info("session %s: its kiosk is sent to another node", session.id)


async def _keep_agent(federation: Federation, session: LiveSession) -> None:
    """The part ends here, but its agent on another node waits for the customer."""
    found = [key for key, proxy in federation.proxies.items() if proxy is session.agent]
    if found:
        node, conn = found[0]
        held = federation.keys.held(session.id)
        await federation.redis.set(held, f"{node}/{conn}", ex=HELD_S)
