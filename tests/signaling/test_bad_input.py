"""Bad signalling input is answered with an error naming the problem; others carry on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from media.verify import verify_recording
from signaling import MAX_MESSAGE_BYTES
from tests.support import RunningServer, run_session


class RawSocket:
    """A hand-driven WebSocket to the server, for sending what a real client would not."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, data: object) -> None:
        await self.ws.send_str(data if isinstance(data, str) else json.dumps(data))

    async def reply(self) -> dict[str, object]:
        """The next message that is not a queue or presence broadcast."""
        while True:
            frame = await asyncio.wait_for(self.ws.receive(), 10)
            assert frame.type == aiohttp.WSMsgType.TEXT, frame
            message: dict[str, object] = json.loads(frame.data)
            if message["type"] not in ("queue", "queue_changes", "queue_position", "presence"):
                return message

    async def error(self, data: object) -> tuple[str, str]:
        """Send ``data``; the server must answer with an error: its code and message."""
        await self.send(data)
        message = await self.reply()
        assert message["type"] == "error", message
        return str(message["code"]), str(message["message"])


@pytest.fixture
async def raw(server: RunningServer) -> AsyncIterator[RawSocket]:
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        yield RawSocket(ws)


REFUSED_BEFORE_JOIN = [
    ("not json", "bad_message", "not valid JSON"),
    ("[1, 2]", "bad_message", "must be a JSON object"),
    ({"role": "kiosk"}, "bad_message", 'no "type"'),
    ({"type": "launch_missiles"}, "bad_message", 'unknown message type "launch_missiles"'),
    ({"type": "join", "role": "kiosk"}, "unauthorised", "join needs a token, or a signed-in"),
    ({"type": "join", "role": 7, "token": "x"}, "bad_message", 'field "role" of "join" must be'),
    ({"type": "join", "role": "janitor", "token": "x"}, "bad_message", "role must be one of"),
    (
        {"type": "join", "role": "kiosk", "token": "x", "admin": True},
        "bad_message",
        'unknown field "admin"',
    ),
    ({"type": "accept"}, "unauthorised", "join first"),
    ({"type": "offer", "sdp": "v=0\r\n"}, "unauthorised", "join first"),
    (
        {"type": "join", "role": "kiosk", "token": "not-a-token"},
        "unauthorised",
        "not valid for a kiosk",
    ),
    ("x" * (MAX_MESSAGE_BYTES + 1), "message_too_large", "larger than the limit"),
]


async def test_bad_input_is_refused_while_a_session_carries_on(
    server: RunningServer, raw: RawSocket
) -> None:
    """Every bad message gets its error; a real session at the same time is unharmed."""
    session = asyncio.ensure_future(run_session(server, step_s=1.0))
    agent_token = await server.db.add_credential("agent", "prober")
    for data, code, text in REFUSED_BEFORE_JOIN:
        got_code, message = await raw.error(data)
        assert (got_code, text in message) == (code, True), (data, got_code, message)
    await raw.ws.send_bytes(b"\x00\x01")
    assert (await raw.reply())["code"] == "bad_message"

    # The same connection can still join; then role and order are enforced.
    await raw.send({"type": "join", "role": "agent", "token": agent_token})
    assert (await raw.reply())["type"] == "joined"
    code, message = await raw.error({"type": "join", "role": "agent", "token": agent_token})
    assert code == "out_of_order" and "join" in message
    code, message = await raw.error({"type": "request_service", "service": "card_opening"})
    assert code == "unauthorised" and 'an agent may not send "request_service"' in message
    code, message = await raw.error({"type": "offer", "sdp": "v=0\r\n"})
    assert code == "out_of_order" and "not in a call" in message
    code, message = await raw.error({"type": "workflow_event", "event": "identity_verified"})
    assert code == "out_of_order"
    code, message = await raw.error({"type": "hangup"})
    assert code == "out_of_order"

    session_id = await session
    report = await asyncio.to_thread(verify_recording, server.settings.recordings_dir / session_id)
    assert report.ok, report.problems


async def test_call_errors_name_the_step_and_the_event(server: RunningServer) -> None:
    """In a call: a bad SDP and an illegal workflow event are refused, the call goes on."""
    kiosk_token = await server.db.add_credential("kiosk", "K9", "SH-002")
    agent_token = await server.db.add_credential("agent", "A9")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.ws_url) as k,
        http.ws_connect(server.ws_url) as a,
    ):
        kiosk, agent = RawSocket(k), RawSocket(a)
        await kiosk.send({"type": "join", "role": "kiosk", "token": kiosk_token})
        assert (await kiosk.reply())["type"] == "joined"
        code, message = await kiosk.error({"type": "request_service", "service": "moon"})
        assert code == "unknown_service" and "moon" in message
        await kiosk.send({"type": "request_service", "service": "card_opening"})
        await agent.send({"type": "join", "role": "agent", "token": agent_token})
        assert (await agent.reply())["type"] == "joined"
        code, _ = await kiosk.error({"type": "request_service", "service": "card_opening"})
        assert code == "out_of_order"
        await agent.send({"type": "accept"})
        assert (await agent.reply())["type"] == "matched"
        assert (await agent.reply())["type"] == "workflow_state"
        code, message = await agent.error({"type": "workflow_event", "event": "signature_captured"})
        assert code == "transition_not_allowed"
        assert '"signature_captured"' in message and '"identity_check"' in message
        code, message = await agent.error({"type": "workflow_event", "event": "abort"})
        assert code == "workflow_error" and "reason" in message
        code, message = await agent.error({"type": "offer", "sdp": "v=0\r\nnonsense"})
        assert code == "negotiation_failed", message
        code, message = await agent.error({"type": "offer", "sdp": "v=1"})
        assert code == "bad_message" and "session description" in message
        # The customer's evidence is the kiosk's to give, never the agent's.
        code, message = await agent.error(
            {
                "type": "workflow_event",
                "event": "identity_verified",
                "data": {"evidence": {"tick_confirmation": "evidence-x.json#00"}},
            }
        )
        assert code == "bad_evidence" and "customer's to give" in message
        # The step's data and evidence are required: the refusal names the step and the fact.
        code, message = await agent.error({"type": "workflow_event", "event": "identity_verified"})
        assert code == "step_refused"
        assert 'in step "identity_check"' in message and 'data "id_number": missing' in message
        # Still in the call: a legal event goes through and both sides hear of it.
        await agent.send({"type": "workflow_event", "event": "abort", "reason": "no ID card"})
        state = await agent.reply()
        assert state["type"] == "workflow_state" and state["state"] == "aborted"
        await kiosk.send({"type": "hangup", "reason": "customer left"})
        ended = await agent.reply()
        while ended["type"] == "workflow_state":
            ended = await agent.reply()
        assert ended["type"] == "session_ended" and ended["by"] == "kiosk"
    detail = await server.db.get_session(str(state["session_id"]))
    assert [(e.event, e.reason) for e in detail.events] == [("abort", "no ID card")]
    assert detail.session.end_reason == "customer left"
