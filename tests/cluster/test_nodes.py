"""Several ``dualrec serve`` nodes on one Redis and one PostgreSQL (issue 11), as processes.

A call whose parties are on different nodes is recorded by its owner and verifies; a node
killed mid-call loses no call (the customer resumes on another node with the same agent)
and no recording (both parts verify); the waiting customers of a killed node get their
places back; a restart of every node signs nobody out; a revocation is felt everywhere.
"""

from __future__ import annotations

import asyncio

import aiohttp

from common import Role
from signaling.sockets import CloseCode
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.cluster.harness import Cluster, Node
from tests.cluster.nodes import (
    agent,
    all_see,
    join,
    kiosk,
    next_of,
    parties,
    start,
    verify,
    wait_for,
)
from tests.e2e.test_socket_limits import closed_with
from tests.e2e.test_socket_revocation import PASSWORD, csrf


async def test_a_kiosk_on_one_node_is_served_by_an_agent_on_another(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    first, second = await start(cluster, redis_target, 2)
    db = shared_database.db
    tokens = await parties(db)
    await db.add_credential("supervisor", "sue")
    await db.set_password("supervisor", "sue", PASSWORD)
    customer = kiosk(first.ws_url, tokens[Role.KIOSK])
    staff = agent(second.ws_url, tokens[Role.AGENT])
    call = asyncio.gather(customer.run(), staff.run())
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as sue:
        form = {"name": "sue", "password": PASSWORD}
        async with sue.post(f"{first.url}/console/login", data=form) as response:
            assert response.status == 200
        # A supervisor on node 1 sees the agent of node 2 in the call node 1 owns.
        await wait_for(lambda: _overview_shows(sue, first.url), "node 1's overview shows all")
    seen, served = await call
    assert served.ended is not None and served.ended.reason == "completed"
    assert seen.ended is not None and seen.errors == []
    # Media went both ways, straight to the owner (the kiosk's node).
    assert min(seen.received_frames.values()) > 0 and min(served.received_frames.values()) > 0
    assert served.session_id is not None
    detail = await shared_database.db.get_session(served.session_id)
    assert str(detail.session.status) == "ended"
    assert {f.party for f in detail.files} == {"kiosk", "agent"}
    [report] = await verify(cluster, served.session_id)
    assert report["ok"], report


async def _overview_shows(sue: aiohttp.ClientSession, url: str) -> bool:
    async with sue.get(f"{url}/console/api/overview") as response:
        overview = await response.json()
    agents = {(a["name"], a["presence"], a["node"]) for a in overview["agents"]}
    calls = {(c["kiosk"], c["agent"]) for c in overview["calls"]}
    return ("agent-1", "busy", "node2") in agents and ("BJ-001-K1", "agent-1") in calls


async def test_the_owner_killed_mid_call_the_customer_resumes_with_the_same_agent(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    nodes = await start(cluster, redis_target, 2)
    balancer = await cluster.start_balancer()
    tokens = await parties(shared_database.db)
    # The kiosk comes through the load balancer, reconnecting there when its node dies.
    customer = kiosk(balancer.ws_url, tokens[Role.KIOSK], reconnect_s=60.0)
    visit = asyncio.ensure_future(customer.run())
    await wait_for(lambda: owners(nodes), "the kiosk's session is on a node")
    owner, other = nodes if (await nodes[0].healthz())["sessions"] else nodes[::-1]
    staff = agent(other.ws_url, tokens[Role.AGENT], step_s=1.5)
    call = asyncio.ensure_future(staff.run())
    session_id = await _recording(shared_database, customer)
    await asyncio.sleep(3.0)  # a few seconds of the first part recorded

    await owner.kill()
    _, served = await asyncio.wait_for(asyncio.gather(visit, call), 240)
    assert served.ended is not None and served.ended.reason == "completed"
    assert staff.reconnections == 1  # the same agent waited for the customer
    assert customer.connections == 2
    detail = await shared_database.db.get_session(session_id)
    assert (str(detail.session.status), detail.session.recording_parts) == ("ended", 2)
    reports = await verify(cluster, session_id)
    assert [r["ok"] for r in reports] == [True, True], reports


async def owners(nodes: list[Node]) -> bool:
    return any([(await node.healthz())["sessions"] for node in nodes])


async def _recording(shared_database: SharedDatabase, customer: object) -> str:
    """The session id once its recording has started (its first segment row exists)."""
    found: list[str] = []

    async def started() -> bool:
        sessions = await shared_database.db.list_sessions(limit=5)
        for session in sessions:
            if str(session.status) == "active":
                found.append(session.id)
                return True
        return False

    await wait_for(started, "the call is recording", timeout_s=60.0)
    return found[0]


async def test_the_waiting_customers_of_a_killed_node_keep_their_places(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    (doomed,) = await start(cluster, redis_target, 1)
    # The survivor is not started yet: nginx passes every kiosk to the doomed node.
    survivor = cluster.add_node("--redis-url", redis_target.url, "--node-id", "node2")
    balancer = await cluster.start_balancer()
    db = shared_database.db
    tokens = [await db.add_credential(Role.KIOSK, f"BJ-001-K{i}", "BJ-001") for i in range(5)]
    async with aiohttp.ClientSession() as http:
        sockets, sessions = [], []
        for token in tokens:
            ws = await join(http, balancer.ws_url, "kiosk", token)
            await ws.send_json({"type": "request_service", "service": "card_opening"})
            sessions.append((await next_of(ws, "queue_position"))["session_id"])
            sockets.append(ws)
        await survivor.start()
        await doomed.kill()
        # Each kiosk reconnects through the same address and resumes its session.
        for ws in sockets:
            await ws.close()
        sockets = []
        for token, session_id in zip(tokens, sessions, strict=True):
            ws = await join(http, balancer.ws_url, "kiosk", token)
            await ws.send_json({"type": "resume", "session_id": session_id})
            sockets.append(ws)
        places = [(await next_of(ws, "queue_position", 60))["position"] for ws in sockets]
        # Places may be announced while the others are still coming back: wait for all five.
        staff = await join(http, survivor.ws_url, "agent", await db.add_credential("agent", "a"))
        order = []
        for _ in sessions:
            await next_of(staff, "queue")
            await staff.send_json({"type": "accept"})
            matched = await next_of(staff, "matched")
            order.append(matched["session_id"])
            await staff.send_json({"type": "hangup", "reason": "served"})
            await next_of(staff, "session_ended")
            await staff.send_json({"type": "presence", "state": "available"})
        assert order == sessions, (order, sessions, places)
        for ws in [*sockets, staff]:
            await ws.close()


async def test_every_node_restarted_signs_nobody_out_and_revocation_is_felt_everywhere(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    first, second = await start(cluster, redis_target, 2)
    db = shared_database.db
    kiosk_token = await db.add_credential(Role.KIOSK, "BJ-001-K1", "BJ-001")
    await db.add_credential("admin", "root")
    await db.set_password("admin", "root", PASSWORD)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as admin:
        form = {"name": "root", "password": PASSWORD}
        async with admin.post(f"{first.url}/console/login", data=form) as response:
            assert response.status == 200
        for node in (first, second):
            assert await node.terminate() == 0
        for node in (first, second):
            await node.start()
        await wait_for(lambda: all_see([first, second], 2), "the nodes see each other again")
        async with aiohttp.ClientSession() as http:
            # The device token joins on either node, and the admin's sign-in (made on node 1
            # before both restarted) still holds on node 2.
            on_first = await join(http, first.ws_url, "kiosk", kiosk_token)
            on_second = await join(http, second.ws_url, "kiosk", kiosk_token)
            token = await csrf(admin, f"{second.url}/admin")
            revoke = {"action": "revoke", "name": "BJ-001-K1", "role": "kiosk", "csrf": token}
            async with admin.post(f"{second.url}/admin", data=revoke) as response:
                assert response.status == 200
            # Revoked on node 2: node 1 closes its socket at once too.
            for ws in (on_first, on_second):
                revoked = f"{CloseCode.REVOKED}: the account was revoked"
                assert await closed_with(ws, timeout=10) == revoked
