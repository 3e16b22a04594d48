"""What operators and supervisors see of several nodes: each node's health for /healthz,
and every node's agents and calls for the supervisors' pages (read each heartbeat).

Each node rewrites its own calls in one Redis hash every heartbeat; a call not
rewritten for ``STALE_CALL_MS`` is gone (its node died, say) and is dropped.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .nodelink import Everywhere

if TYPE_CHECKING:
    from .federation import Federation

#: A call not rewritten by its owner for this long is gone (its node died, say).
STALE_CALL_MS = 5_000


async def refresh(fed: Federation, local_calls: list[dict[str, Any]]) -> Everywhere:
    """Publish this node's calls, and read every node's agents and calls."""
    now_ms = round(time.time() * 1000)
    if local_calls:
        rows = {c["session_id"]: json.dumps(c | {"at_ms": now_ms}) for c in local_calls}
        await fed.redis.hset(fed.keys.live_calls, mapping=rows)
    calls = []
    for session_id, text in (await fed.redis.hgetall(fed.keys.live_calls)).items():
        call = json.loads(text)
        if now_ms - call.pop("at_ms", 0) < STALE_CALL_MS:
            calls.append(call)
        else:
            await fed.redis.hdel(fed.keys.live_calls, session_id)
    agents = []
    for state in (await fed.shared.agents()).values():
        since = round(now_ms / 1000 - state.pop("since_ms", now_ms) / 1000)
        agents.append(state | {"since_s": since})
    return Everywhere(
        agents=sorted(agents, key=lambda a: a["name"]),
        calls=sorted(calls, key=lambda c: c["session_id"]),
    )


def status(fed: Federation) -> dict[str, Any]:
    """This node among the others, for /healthz."""
    registry = fed.registry
    return {
        "node": fed.node,
        "nodes": sorted([fed.node, *registry.peers]),
        "draining": registry.draining,
        "redis_errors": registry.errors + fed.bus.errors,
    }


def problems(fed: Federation) -> list[str]:
    """What is degraded between the nodes, in words for operators."""
    since = fed.registry.failing_since
    if since is None:
        return []
    when = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
    return [f"Redis unreachable since {when}: the queue and other nodes are out of reach"]
