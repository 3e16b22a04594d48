"""Queue updates across nodes (issue 11, point 2): an agent on node 2 follows node 1's queue.

Kiosks queue on node 1; an agent available on node 2 is sent the shared queue whole once,
then only its changes: each kiosk's offer arrives once, and a kiosk that leaves is one
removed id. What the agent holds is what the shared queue holds: a second agent joining
node 2 afterwards is sent the same list whole.
"""

from __future__ import annotations

import aiohttp

from common import Role
from signaling import QueueChanges, QueueState
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.cluster.harness import Cluster
from tests.cluster.nodes import join, next_of, start
from tests.e2e.test_queue_updates import QueueWatch

KIOSKS = 6


async def test_an_agent_on_one_node_sees_kiosks_on_another_arrive_and_leave(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    first, second = await start(cluster, redis_target, 2)
    db = shared_database.db
    tokens = [await db.add_credential(Role.KIOSK, f"BJ-001-K{i}", "BJ-001") for i in range(KIOSKS)]
    async with aiohttp.ClientSession() as http:
        ann = await db.add_credential(Role.AGENT, "ann")
        watch = QueueWatch(await join(http, second.ws_url, "agent", ann))
        assert await watch.until(0) == []
        kiosks = []
        for token in tokens:
            ws = await join(http, first.ws_url, "kiosk", token)
            await ws.send_json({"type": "request_service", "service": "card_opening"})
            await next_of(ws, "queue_position")
            kiosks.append(ws)
        order = await watch.until(KIOSKS)
        assert sum(len(c.added) for c in watch.of(QueueChanges)) == KIOSKS

        for n in (1, 4):
            await kiosks[n].send_json({"type": "hangup", "reason": "changed my mind"})
        left = [offer for n, offer in enumerate(order) if n not in (1, 4)]
        assert await watch.until(KIOSKS - 2) == left
        removed = [offer_id for c in watch.of(QueueChanges) for offer_id in c.removed]
        assert sorted(removed) == sorted([order[1], order[4]])
        assert len(watch.of(QueueState)) == 1

        # Another agent on node 2 is sent the same queue, whole.
        bob = await db.add_credential(Role.AGENT, "bob")
        other = QueueWatch(await join(http, second.ws_url, "agent", bob))
        assert await other.until(KIOSKS - 2) == left
        for ws in [watch.ws, other.ws, *kiosks]:
            await ws.close()
