"""Live checks of a recording call, told to its agent: the customer out of the picture, a
second face, no sound from the customer (``media.live_watch`` looks; this module only
starts it with the recording and sends each change as ``live_flag``).
"""

from __future__ import annotations

import logging

from common import Party
from media.live_watch import FlagChange, LiveWatch

from .protocol import LiveFlagMessage
from .session import LiveSession

logger = logging.getLogger(__name__)


def watch_customer(session: LiveSession) -> LiveWatch | None:
    """Start the live checks of ``session``'s customer as its recording starts."""
    relay, t0 = session.relay, session.t0
    if relay is None or t0 is None:
        return None

    async def tell_agent(change: FlagChange) -> None:
        agent = session.agent
        logger.info(
            "session %s: live %s %s",
            session.id,
            change.flag.value,
            "raised" if change.raised else "cleared",
        )
        if agent is None or session.ended:
            return
        offset_ms = max(0, round((change.at - t0) * 1000))
        await agent.send(LiveFlagMessage(session.id, change.flag.value, change.raised, offset_ms))

    watch = LiveWatch(
        lambda change: session.tasks.spawn(tell_agent(change)),
        lambda: relay.request_keyframe(Party.KIOSK),
        session_id=session.id,
    )
    relay.watch = watch
    watch.start()
    return watch
