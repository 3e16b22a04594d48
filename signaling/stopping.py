"""Stopping a single node with calls under way: each call is interrupted, to be resumed.

On SIGTERM aiohttp stops listening, then runs the app's shutdown hooks, then closes the
sockets (``signaling.server``). If the sockets closed first, each call would end by
whichever party's disconnect came first: a kiosk's holds the call (interrupted), an
agent's ends it (``ended (agent disconnected)``, which cannot be resumed). So before the
sockets close, every call with an agent is closed as interrupted here, its recording
part chained and signed, and its customer may resume it at the next start.

Among several nodes (``--redis-url``) the node drains instead (``signaling.draining``):
by the time this runs there, it has no call left and nothing is done.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import CallCentre

logger = logging.getLogger(__name__)

#: The reason stored with each call the stop interrupts.
REASON = "server shutting down"


async def interrupt_calls(centre: CallCentre) -> int:
    """Close every call under way as interrupted (resumable); how many there were."""
    if centre.nodes.draining():
        return 0  # the drain moved this node's calls (several nodes)
    calls = [s for s in centre.sessions.values() if s.agent is not None and s.call.open]
    if calls:
        logger.warning("stopping: %d calls interrupted, resumable at the next start", len(calls))
    # Each closes its own relay, recorder and archive: no reason to close them in turn.
    results = await asyncio.gather(
        *(centre.end_session(s, REASON, by="server", hold=True) for s in calls),
        return_exceptions=True,
    )
    for session, result in zip(calls, results, strict=True):
        if isinstance(result, Exception):
            logger.error("session %s: not closed as interrupted at stop: %r", session.id, result)
    return len(calls)
