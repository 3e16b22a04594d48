"""What the tests of several nodes share: nodes on Redis, parties, checks of recordings."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp

from agent_console import ScriptedAgent
from common import Role
from kiosk_client import Kiosk, open_source
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.cluster.conftest import RedisTarget
from tests.cluster.harness import Cluster, Node, NodeArgs


def on_redis(redis: RedisTarget) -> NodeArgs:
    """Each node's arguments: the test's Redis and the node's own id."""

    def extra(name: str) -> Sequence[str]:
        return ("--redis-url", redis.url, "--node-id", name)

    return extra


async def start(cluster: Cluster, redis: RedisTarget, count: int) -> list[Node]:
    """``count`` nodes sharing the test's Redis, each knowing all the others."""
    nodes = await cluster.start_nodes(count, on_redis(redis))
    await wait_for(lambda: all_see(nodes, count), "every node sees the others")
    return nodes


async def all_see(nodes: Sequence[Node], count: int) -> bool:
    """Whether every node's /healthz lists ``count`` nodes."""
    for node in nodes:
        if len((await node.healthz()).get("nodes", [])) != count:
            return False
    return True


async def wait_for(check: Any, what: str, timeout_s: float = 30.0) -> None:
    """Poll the async ``check`` until it is true (not a timed assertion: a bound)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.2)


async def parties(db: Database, suffix: str = "1") -> dict[Role, str]:
    """A kiosk's device token and an agent's token."""
    return {
        Role.KIOSK: await db.add_credential(Role.KIOSK, f"BJ-001-K{suffix}", "BJ-001"),
        Role.AGENT: await db.add_credential(Role.AGENT, f"agent-{suffix}"),
    }


def kiosk(url: str, token: str, **options: Any) -> Kiosk:
    """A synthetic kiosk asking for card_opening."""
    return Kiosk(url, token, open_source("synthetic", KIOSK_LOOK), think_s=0.1, **options)


def agent(url: str, token: str, *, step_s: float = 0.6) -> ScriptedAgent:
    """A scripted agent who takes the next customer."""
    return ScriptedAgent(url, token, open_source("synthetic", AGENT_LOOK), step_s=step_s)


async def verify(cluster: Cluster, session_id: str) -> list[dict[str, Any]]:
    """``dualrec verify SESSION`` on the shared data: every part's report (it must pass)."""
    assert cluster.database_url is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dualrec",
        "verify",
        session_id,
        "--json",
        "--data-dir",
        str(cluster.data_dir),
        "--database-url",
        cluster.database_url,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    found = json.loads(out)
    # One part gives its report, several a list of them.
    reports: list[dict[str, Any]] = found if isinstance(found, list) else [found]
    assert process.returncode == 0, reports
    return reports


async def join(http: aiohttp.ClientSession, url: str, role: str, token: str) -> Any:
    """A raw signalling socket, joined; refused connections are tried again, as pages do."""
    for attempt in range(20):
        try:
            ws = await http.ws_connect(url)
            break
        except (aiohttp.WSServerHandshakeError, aiohttp.ClientConnectionError):
            if attempt == 19:
                raise
            await asyncio.sleep(0.5)
    await ws.send_json({"type": "join", "role": role, "token": token})
    joined = await ws.receive_json(timeout=10)
    assert joined["type"] == "joined", joined
    return ws


async def next_of(ws: Any, kind: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The next message of type ``kind`` on a raw socket (others are passed over)."""
    async with asyncio.timeout(timeout_s):
        while True:
            message: dict[str, Any] = await ws.receive_json()
            if message["type"] == kind:
                return message
