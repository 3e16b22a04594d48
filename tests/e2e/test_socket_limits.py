"""Socket limits: join time-out, sockets per address, ICE candidates per connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media.relay import MAX_ICE_CANDIDATES
from signaling import IceCandidate, RequestService, SessionEnded
from signaling.client import ServerRefused, SignalingClient
from signaling.sockets import OPEN_SOCKETS, CloseCode
from tests.signaling.test_bad_input import RawSocket
from tests.support import RunningServer


async def closed_with(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> str:
    """Wait for the server to close ``ws``; its close code and reason, as "code: reason"."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.receive()
            if frame.type == aiohttp.WSMsgType.CLOSE:
                return f"{frame.data}: {frame.extra}"
            if frame.type == aiohttp.WSMsgType.CLOSED:
                return f"{ws.close_code}: (closed)"


async def chat(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Send a message every 50 ms until the socket closes."""
    with contextlib.suppress(ConnectionResetError):
        while not ws.closed:
            await ws.send_str('{"type": "presence", "state": "away"}')
            await asyncio.sleep(0.05)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_an_unjoined_socket_is_closed_after_the_join_time_out(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server.runner.app[OPEN_SOCKETS].join_timeout_s = 0.5
    token = await server.db.add_credential("agent", "on-time")
    async with http.ws_connect(server.ws_url) as idle, http.ws_connect(server.ws_url) as joined:
        raw = RawSocket(joined)
        await raw.send({"type": "join", "role": "agent", "token": token})
        assert (await raw.reply())["type"] == "joined"
        # Messages that are not a join do not keep a socket open, however many.
        chatter = asyncio.ensure_future(chat(idle))
        assert await closed_with(idle) == f"{CloseCode.JOIN_TIMEOUT}: no join within 0.5 s"
        await chatter
        await asyncio.sleep(0.7)
        await raw.send({"type": "presence", "state": "away"})
        async with asyncio.timeout(5):
            while (await joined.receive()).json() != {"type": "presence", "state": "away"}:
                pass


async def test_one_address_holds_a_bounded_number_of_sockets(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server.runner.app[OPEN_SOCKETS].per_address = 3
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(http.ws_connect(server.ws_url)) for _ in "abc"]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(server.ws_url)
        assert refused.value.status == 429
        await sockets[0].close()
        async with asyncio.timeout(5):
            while len(server.runner.app[OPEN_SOCKETS]) > 2:
                await asyncio.sleep(0.05)
        async with http.ws_connect(server.ws_url) as again:
            assert not again.closed


async def test_ice_candidates_are_capped_per_connection(server: RunningServer) -> None:
    kiosk_token = await server.db.add_credential("kiosk", "ICE-K1", "SH-002")
    agent_token = await server.db.add_credential("agent", "ice-agent")
    kiosk = SignalingClient(server.ws_url, "kiosk", kiosk_token)
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as a:
        try:
            await kiosk.connect()
            await kiosk.send(RequestService(service="card_opening"))
            agent = RawSocket(a)
            await agent.send({"type": "join", "role": "agent", "token": agent_token})
            assert (await agent.reply())["type"] == "joined"
            await agent.send({"type": "accept"})
            assert (await agent.reply())["type"] == "matched"
            await kiosk.negotiate([AudioStreamTrack(), VideoStreamTrack()])
            for i in range(MAX_ICE_CANDIDATES + 1):
                candidate = (
                    f"candidate:{i} 1 udp 2122260223 192.0.2.{i % 250 + 1} {9000 + i} typ host"
                )
                await kiosk.send(IceCandidate(candidate=candidate, sdp_mline_index=0))
            with pytest.raises(ServerRefused) as refused:
                await kiosk.expect(SessionEnded, timeout=10)
            error = refused.value.error
            assert (error.code, error.ref) == ("negotiation_failed", "ice_candidate")
            assert f"already has {MAX_ICE_CANDIDATES} ICE candidates" in error.message
            # Only the one over the cap was refused.
            assert sum(1 for m in kiosk.history if m.type == "error") == 1
        finally:
            await kiosk.close()


async def test_a_kiosk_holds_one_place_in_the_queue_whichever_socket_asks(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    token = await server.db.add_credential("kiosk", "one-place", "BJ-001")
    async with http.ws_connect(server.ws_url) as first, http.ws_connect(server.ws_url) as second:
        sockets = [RawSocket(first), RawSocket(second)]
        for raw in sockets:
            await raw.send({"type": "join", "role": "kiosk", "token": token})
            assert (await raw.reply())["type"] == "joined"
        await sockets[0].send({"type": "request_service", "service": "card_opening"})
        request = {"type": "request_service", "service": "risk_assessment"}
        for raw in sockets:  # the same socket again, and the device's other socket
            code, text = await raw.error(request)
            assert code == "out_of_order" and "queued" in text
        centre = server.centre
        assert [s.kiosk.name for s in centre.queue] == ["one-place"]
        # Once the first socket's place is given up, the device may ask again.
        await sockets[0].send({"type": "hangup", "reason": "changed my mind"})
        assert (await sockets[0].reply())["type"] == "session_ended"
        await sockets[1].send(request)
        await asyncio.sleep(0.2)
        assert [s.service for s in centre.queue] == ["risk_assessment"]
