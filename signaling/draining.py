"""Draining a node (SIGTERM among several): no new calls, everyone who is not in a call
sent to another node, the calls given time to end, then interrupted so that they resume
on another node.

The node's listening socket is already closed (the load balancer sends new connections
elsewhere). Waiting customers keep their places: their sessions are set aside in the
shared queue and their kiosks' sockets closed, so the kiosks reconnect through the load
balancer to another node and resume there. Agents and kiosks not in a call are sent
over likewise. Calls (owned here, or with a party here) run on for ``grace_s``; a
rolling restart gives each node a grace longer than a call. Calls owned here that are
still going then are closed as interrupted (their recording parts closed and signed)
and their kiosks sent elsewhere to resume.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from common import Role

from .failover import HELD_S
from .session import Client, LiveSession
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
    """Send the idle elsewhere, let the calls end (up to ``grace_s``), interrupt the rest."""
    await federation.registry.set_draining()
    deadline = time.monotonic() + grace_s
    logger.warning("draining: %d calls, up to %g s", len(_in_calls(centre, federation)), grace_s)
    while True:
        await _hand_over_waiting(centre, federation, sockets)
        for client in list(federation.local.values()):
            if _idle(centre, client) and client.role is not None:
                sockets.hand_over(client.role, client.name)
        if not _in_calls(centre, federation) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    for session in [s for s in centre.sessions.values() if s.agent is not None]:
        await centre.end_session(session, "node draining", by="server", hold=True)
        sockets.hand_over(Role.KIOSK, session.kiosk.name)
    for session in list(centre.held.values()):
        await _keep_agent(federation, session)
        await federation.disown(session)
    logger.warning("drained: no call left")


def _in_calls(centre: CallCentre, federation: Federation) -> list[Client]:
    """This node's clients in a call (owned here or elsewhere)."""
    return [
        client
        for client in federation.local.values()
        if (client.session is not None and client.session.agent is not None)
        or (client.remote is not None and client.remote.matched)
    ]


def _idle(centre: CallCentre, client: Client) -> bool:
    """Not in a call, not waiting, not held for a customer: free to move now."""
    held = any(session.agent is client for session in centre.held.values())
    waiting_agent = client.remote is not None and client.remote.owner is None
    return client.session is None and client.remote is None and not held and not waiting_agent


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
