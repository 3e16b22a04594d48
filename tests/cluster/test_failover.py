"""Two nodes behind nginx, one killed with SIGKILL: clients reach the survivor through the same
address at once.
"""

from __future__ import annotations

import aiohttp

from tests.cluster.conftest import SharedDatabase
from tests.cluster.harness import Cluster, Proxied
from tests.e2e.test_durable_sign_ins import queued
from tests.e2e.test_socket_revocation import joined

#: New sockets opened after the kill: with two nodes taken in turn, one is sent to the dead one.
AFTER_KILL = 4
ENDED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def test_a_killed_node_is_passed_over_and_its_kiosk_reconnects_to_the_survivor(
    cluster: Cluster, shared_database: SharedDatabase
) -> None:
    db = shared_database.db
    nodes = await cluster.start_nodes(2)
    balancer = await cluster.start_balancer()
    kiosk = await db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    others = [await db.add_credential("kiosk", f"BJ-001-K{i + 2}", "BJ-001") for i in range(4)]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(balancer.ws_url)
        await joined(ws, "kiosk", kiosk)
        assert (await queued(ws))["type"] == "queue_position"
        # Each node keeps its own queue today: the one that counts a waiting kiosk has it.
        waiting = [(await node.healthz())["waiting"] for node in nodes]
        assert sorted(waiting) == [0, 1]
        dead, survivor = nodes if waiting[0] == 1 else nodes[::-1]

        await dead.kill()
        # nginx ends the kiosk's socket with its node; the kiosk reconnects to the same address.
        while (await ws.receive(timeout=30)).type not in ENDED:
            pass
        await ws.close()
        async with http.ws_connect(balancer.ws_url) as again:
            await joined(again, "kiosk", kiosk)
            assert (await queued(again))["type"] == "queue_position"
            assert (await survivor.healthz())["waiting"] == 1
        # Fresh sockets, right after the kill: every one is served, none waits for a retry.
        for token in others[:AFTER_KILL]:
            async with http.ws_connect(balancer.ws_url) as fresh:
                await joined(fresh, "kiosk", token)
    assert balancer.process is not None
    await balancer.stop()  # its access log is complete

    requests = balancer.requests("/ws")
    assert len(requests) == 2 + AFTER_KILL
    # The kiosk's first socket, ended by the kill, is the only one the dead node served.
    before = [r for r in requests if r.upstreams == [dead.address]]
    assert before == [Proxied(101, [dead.address])]
    after = [r for r in requests if r not in before]
    for request in after:
        assert (request.status, request.upstreams[-1]) == (101, survivor.address), request
    # nginx sent one of them to the dead node first, and went on to the survivor at once.
    assert [dead.address, survivor.address] in [r.upstreams for r in after]
    assert "Connection refused) while connecting to upstream" in balancer.error_log.read_text()
