"""Live checks over the real protocol: a real server, an aiortc kiosk whose synthetic camera
shows colours (no face), and an agent that reads every message it is sent. The agent is
told ``live_flag`` ``customer_absent`` while the call records; the kiosk's beeps are
heard, so ``customer_no_sound`` is not raised. What the checks cost is measured in the
call: the CPU the watch spent, against the call's length.
"""

from __future__ import annotations

import asyncio

from dualrec.app import CENTRE
from kiosk_client import Kiosk, open_source
from media.live_watch import CHECK_EVERY_S, CONFIRM
from signaling import SignalingClient
from signaling.protocol import (
    Accept,
    Hangup,
    LiveFlagMessage,
    Matched,
    QueueChanges,
    QueueState,
    WorkflowState,
)
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.support import RunningServer

#: Long enough for CONFIRM pictures without a face, on a loaded machine.
FLAG_WAIT_S = CHECK_EVERY_S * (CONFIRM + 1) + 40


async def _accept_the_customer(agent: SignalingClient) -> Matched:
    """Wait until a customer waits, then accept them."""
    while True:
        message = await agent.next_message()
        waiting = (
            len(message.waiting)
            if isinstance(message, QueueState)
            else message.length
            if isinstance(message, QueueChanges)
            else 0
        )
        if waiting > 0:
            await agent.send(Accept())
            return await agent.expect(Matched)


async def test_the_agent_is_told_when_the_customer_is_not_in_the_picture(
    server: RunningServer,
) -> None:
    kiosk_token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    agent_token = await server.db.add_credential("agent", "agent-1")
    kiosk = Kiosk(server.ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK, pulse=True))
    agent = SignalingClient(server.ws_url, "agent", agent_token)
    visit = asyncio.create_task(kiosk.run())
    flags: list[LiveFlagMessage] = []
    try:
        await agent.connect()
        matched = await _accept_the_customer(agent)
        await agent.expect(WorkflowState)
        await agent.negotiate(open_source("synthetic", AGENT_LOOK, pulse=True))
        async with asyncio.timeout(FLAG_WAIT_S):
            while not any(f.flag == "customer_absent" and f.raised for f in flags):
                message = await agent.next_message()
                if isinstance(message, LiveFlagMessage):
                    flags.append(message)
        live = server.runner.app[CENTRE].sessions[matched.session_id]
        assert live.relay is not None and live.relay.watch is not None
        watch = live.relay.watch
        recorded_s = (live.offset_ms() or 0) / 1000
        await agent.send(Hangup())
        await visit
    finally:
        await agent.close()
        if not visit.done():
            visit.cancel()
    [absent] = flags
    assert absent.session_id == matched.session_id and absent.raised
    assert CONFIRM * CHECK_EVERY_S * 1000 <= absent.offset_ms <= recorded_s * 1000
    assert "customer_no_sound" not in {f.flag for f in flags}  # its beeps are heard
    assert watch.checks >= CONFIRM and watch.counter.cpu_s > 0
    # What live checks cost (printed with -s): the watch's CPU per minute of call.
    print(f"live checks: {watch.counter.cpu_s:.3f} CPU s over {recorded_s:.1f} s of call")
