"""What an available agent is told of the queue: only what an offer needs (issue 12).

Every available agent used to receive every waiting session's id and its kiosk's name.
The entry an agent sees is exactly ``OFFER_FIELDS`` (with its place, in ``queue_changes``):
the service, the branch, the time waited and an opaque offer id (not the session id) that
``accept`` names; the supervisor's overview keeps more.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.support import RunningServer

OFFER_FIELDS = {"offer_id", "service", "branch", "waited_s"}


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, object]:
    """The next message of type ``kind``."""
    while True:
        frame = await asyncio.wait_for(ws.receive(), 10)
        message: dict[str, object] = json.loads(frame.data)
        if message["type"] == kind:
            return message


async def test_an_agent_sees_only_what_an_offer_needs(server: RunningServer) -> None:
    agent_token = await server.db.add_credential("agent", "ann")
    kiosk_token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.ws_url) as agent,
        http.ws_connect(server.ws_url) as kiosk,
    ):
        await agent.send_json({"type": "join", "role": "agent", "token": agent_token})
        await next_of(agent, "joined")
        await agent.send_json({"type": "presence", "state": "available"})
        await kiosk.send_json({"type": "join", "role": "kiosk", "token": kiosk_token})
        await next_of(kiosk, "joined")
        request = {"type": "request_service", "service": "card_opening", "language": "en"}
        await kiosk.send_json(request)
        await next_of(agent, "queue")  # the whole queue, empty; then its changes
        while True:
            changes = await next_of(agent, "queue_changes")
            added = changes["added"]
            assert isinstance(added, list)
            if added:
                break
    [entry] = added
    assert set(entry) == OFFER_FIELDS | {"position"}, entry
    sessions = await server.db.open_sessions()
    assert all(s.id not in json.dumps(entry) for s in sessions)
