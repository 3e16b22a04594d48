"""``dualrec demo --nodes 2``: one session across two nodes and a worker, each a process.

Node 1 and node 2 are ``dualrec serve`` processes on one Redis, one PostgreSQL database
and one data folder, and a ``dualrec worker`` makes the composite. The kiosk signs in on
node 1 and the agent on node 2; the call is owned by the kiosk's node (read from Redis
while the call runs). The recording is verified, part by part, before and after its
composite. Without ``--redis-url`` and ``--database-url`` the local Redis and PostgreSQL
on their standard loopback ports are used, and a fresh database is made on the latter.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from agent_console import ScriptedAgent
from cluster import Keys, RedisSettings, connect
from common import RecordingLayout, Role
from kiosk_client import Kiosk, open_source
from media import load_or_create_signing_key
from media.archive import signed_manifest
from media.verify import verify_recording
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK

from .demo import DemoFailed, composite_summary, demo_accounts, demo_credentials, summary
from .demo_services import DemoDatabase, check_services, clean_redis, shown_url
from .processes import Child
from .settings import Settings

#: How long a node may take to answer /healthz, and the nodes to see each other.
START_WAIT_S = 60.0
#: How long the worker may take to make the composite after hang-up.
COMPOSITE_WAIT_S = 300.0
#: How long the whole call may take (a bound, not an expectation: it takes seconds).
CALL_WAIT_S = 240.0
#: How long a party may take to end after the other did, or to close when cancelled.
PARTY_END_S = 30.0
#: How long a SIGTERM may take (a node drains, the worker finishes its job).
STOP_WAIT_S = 60.0
NODES = ("node1", "node2")


async def run_nodes_demo(
    settings: Settings,
    *,
    step_s: float = 1.5,
    service: str = "card_opening",
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Two nodes and a worker as processes, a kiosk on node 1 and an agent on node 2.

    SIGTERM or SIGINT stops it, and its processes with it (DemoFailed says so).
    """
    async with _stopped_by_signals():
        return await _demo(settings, step_s=step_s, service=service, progress=progress)


@contextlib.asynccontextmanager
async def _stopped_by_signals() -> AsyncIterator[None]:
    """SIGTERM and SIGINT cancel the demo (its clean-up stops the processes), as DemoFailed."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    received: list[str] = []

    def stop(name: str) -> None:
        received.append(name)
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        yield
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        raise DemoFailed(f"stopped by {received[0]}; its nodes and worker were stopped") from None
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _demo(
    settings: Settings, *, step_s: float, service: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    began = time.monotonic()
    redis_url, database = await check_services(settings)
    settings = settings.with_changes(redis_url=redis_url, database_url=database.url)
    progress(f"Redis {shown_url(redis_url)}, PostgreSQL {database.describe()}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logs = settings.data_dir / "demo-nodes"
    logs.mkdir(exist_ok=True)
    # The database URL goes by environment, not argv: a password in it would show in ps.
    # (dualrec worker wants --redis-url on its command line.)
    env = {"DUALREC_REDIS_URL": redis_url, "DUALREC_DATABASE_URL": database.url}
    common = ("--data-dir", str(settings.data_dir.resolve()))
    ports = {name: _free_port() for name in NODES}
    serve = (sys.executable, "-m", "dualrec", "serve", *common, "--host", "127.0.0.1")
    children = [
        Child(
            name, (*serve, "--port", str(ports[name]), "--node-id", name), logs / f"{name}.log", env
        )
        for name in NODES
    ]
    worker_argv = (sys.executable, "-m", "dualrec", "worker", *common, "--redis-url", redis_url)
    worker = Child("worker", worker_argv, logs / "worker.log", env)
    children.append(worker)
    owners: dict[str, str] = {}
    session_id: str | None = None
    stopped: dict[str, int | None] = {}
    try:
        async with Database(settings.database) as db:
            tokens = await demo_credentials(db)
            accounts = await demo_accounts(db)
            for child in children[:2]:
                await _start_node(child, ports[child.name], progress)
            await worker.start()  # after node 1: it needs the key the nodes made
            progress(f"worker started (pid {worker.pid})")
            await _wait_until_peers(ports, worker)
            trusted = load_or_create_signing_key(settings.signing_key_path).public_key()
            kiosk = Kiosk(
                f"ws://127.0.0.1:{ports['node1']}/ws",
                tokens[Role.KIOSK],
                open_source("synthetic", KIOSK_LOOK, pulse=True),
                service=service,
                progress=progress,
            )
            agent = ScriptedAgent(
                f"ws://127.0.0.1:{ports['node2']}/ws",
                tokens[Role.AGENT],
                open_source("synthetic", AGENT_LOOK, pulse=True),
                step_s=step_s,
                progress=progress,
            )
            watch = asyncio.ensure_future(_watch_owners(redis_url, owners))
            try:
                kiosk_result, agent_result = await _call(kiosk, agent, children)
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            session_id = agent_result.session_id
            if session_id is None:
                raise DemoFailed("the agent took no customer: " + _tails(children))
            hung_up = time.monotonic()
            progress("call ended, verifying the recording")
            detail = await db.get_session(session_id)
            directory = settings.recordings_dir / session_id
            reports = await asyncio.to_thread(_verify_parts, directory, trusted)
            ready_s = time.monotonic() - hung_up
            progress("waiting for the worker's composite")
            composite = await _composite(directory, worker)
            composite_s = time.monotonic() - hung_up
            if composite is not None:
                progress("composite made, verifying again")
                reports = await asyncio.to_thread(_verify_parts, directory, trusted)
    finally:
        progress("stopping the nodes and the worker (SIGTERM)")
        statuses = await asyncio.gather(*(child.stop(STOP_WAIT_S) for child in children))
        stopped = {child.name: status for child, status in zip(children, statuses, strict=True)}
        sessions = set(owners) | ({session_id} if session_id is not None else set())
        await clean_redis(redis_url, NODES, sessions)
    data = summary(
        detail,
        directory,
        reports[0],
        kiosk_result,
        agent_result,
        elapsed_s=time.monotonic() - began,
        ready_s=ready_s,
    )
    data["verified"] = all(report.ok for report in reports)
    data["problems"] = [problem for report in reports for problem in report.problems]
    data["parts"] = len(reports)
    data["accounts"] = accounts
    data["data_dir"] = str(settings.data_dir)
    data["database_url"] = shown_url(database.url)
    data["composite"] = composite_summary(directory, composite, composite_s)
    data["nodes"] = _nodes_summary(
        ports, owners.get(session_id), composite, redis_url, database, children, stopped
    )
    return data


def _nodes_summary(
    ports: dict[str, int],
    owner: str | None,
    composite: dict[str, Any] | None,
    redis_url: str,
    database: DemoDatabase,
    children: list[Child],
    stopped: dict[str, int | None],
) -> dict[str, Any]:
    """Where each party was, who owned the call and made the composite, what was run."""
    return {
        "kiosk": {"node": "node1", "address": f"127.0.0.1:{ports['node1']}"},
        "agent": {"node": "node2", "address": f"127.0.0.1:{ports['node2']}"},
        "owner": owner,
        "composite_by": "worker" if composite is not None else None,
        "redis_url": shown_url(redis_url),
        "database": {
            "url": shown_url(database.url),
            "name": database.name,
            "created": database.created,
        },
        "processes": [
            {
                "name": child.name,
                "pid": child.pid,
                "exit": stopped.get(child.name),
                "left_behind": child.left_behind,
            }
            for child in children
        ],
    }


def format_nodes(data: dict[str, Any]) -> list[str]:
    """The lines of the summary about the nodes (``dualrec.demo.format_summary`` adds them)."""
    nodes = data["nodes"]
    kiosk, agent = nodes["kiosk"], nodes["agent"]
    composite = "; composite by the worker" if nodes["composite_by"] == "worker" else ""
    database = nodes["database"]
    made = " (made for this run; kept)" if database["created"] else ""
    exits = ", ".join(f"{p['name']} {_exit_text(p['exit'])}" for p in nodes["processes"])
    return [
        f"nodes        kiosk on {kiosk['node']} ({kiosk['address']}), agent on {agent['node']} "
        f"({agent['address']}), call owned by {nodes['owner'] or 'unknown'}{composite}",
        f"services     Redis {nodes['redis_url']}, PostgreSQL {database['url']}{made}",
        f"processes    {exits}",
    ]


def _exit_text(status: int | None) -> str:
    return "killed (did not stop)" if status is None else f"exit {status}"


async def _start_node(child: Child, port: int, progress: Callable[[str], None]) -> None:
    """Start a node and wait until it answers /healthz."""
    await child.start()
    deadline = time.monotonic() + START_WAIT_S
    async with aiohttp.ClientSession() as http:
        while child.running and time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        progress(
                            f"{child.name} listening on http://127.0.0.1:{port} (pid {child.pid})"
                        )
                        return
            await asyncio.sleep(0.1)
    raise DemoFailed(f"{child.name} did not start; its output ({child.log}):\n{child.tail()}")


async def _wait_until_peers(ports: dict[str, int], worker: Child) -> None:
    """Wait until each node's /healthz lists both nodes (and the worker still runs)."""
    deadline = time.monotonic() + START_WAIT_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if not worker.running:
                raise DemoFailed(f"the worker exited ({worker.log}):\n{worker.tail()}")
            seen = []
            for port in ports.values():
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    seen.append(len((await response.json()).get("nodes", [])))
            if all(count == len(ports) for count in seen):
                return
            await asyncio.sleep(0.2)
    raise DemoFailed(f"the nodes did not see each other within {START_WAIT_S:g} s")


async def _watch_owners(redis_url: str, owners: dict[str, str]) -> None:
    """Note which node owns each live call of the demo's nodes, as Redis says, until cancelled."""
    keys, redis = Keys(), connect(RedisSettings(redis_url))
    try:
        while True:
            with contextlib.suppress(RedisError, OSError):
                for node in NODES:
                    for session_id in await redis.smembers(keys.node_calls(node)):
                        owner = await redis.hget(keys.call(session_id), "owner")
                        if owner is not None:
                            owners[session_id] = owner
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()


async def _call(kiosk: Kiosk, agent: ScriptedAgent, children: list[Child]) -> tuple[Any, Any]:
    """Both parties' results; DemoFailed naming where a party is stuck.

    The call may take ``CALL_WAIT_S``; once one party is done, the other has
    ``PARTY_END_S`` to be done too. A party cancelled (by a signal or a failure) gets
    ``PARTY_END_S`` to close, and is cancelled again if its closing hangs.
    """
    parties = {
        "kiosk": asyncio.ensure_future(kiosk.run()),
        "agent": asyncio.ensure_future(agent.run()),
    }
    try:
        done, pending = await asyncio.wait(
            parties.values(), timeout=CALL_WAIT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if done and pending:
            for task in done:
                task.result()  # a party that failed says why
            _, pending = await asyncio.wait(pending, timeout=PARTY_END_S)
        if pending:
            stuck = [
                f"the {name} did not finish; it waits at\n{_stack(task)}"
                for name, task in parties.items()
                if task in pending
            ]
            raise DemoFailed("".join(stuck) + _tails(children))
        return parties["kiosk"].result(), parties["agent"].result()
    finally:
        for _ in range(2):
            running = [task for task in parties.values() if not task.done()]
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running, timeout=PARTY_END_S)


def _stack(task: asyncio.Task[Any]) -> str:
    """Where ``task`` waits, as a traceback."""
    text = io.StringIO()
    task.print_stack(file=text)
    return text.getvalue()


def _verify_parts(directory: Path, trusted: Any) -> list[Any]:
    """Each recording part's report (blocking)."""
    return [verify_recording(part, trusted) for _, part in RecordingLayout.parts_in(directory)]


async def _composite(directory: Path, worker: Child) -> dict[str, Any] | None:
    """The last part's composite (its signed manifest's section), once the worker made every
    part's; None if it did not within ``COMPOSITE_WAIT_S`` or the worker exited."""
    parts = [part for _, part in RecordingLayout.parts_in(directory)]
    deadline = time.monotonic() + COMPOSITE_WAIT_S
    while time.monotonic() < deadline and worker.running:
        manifests = [await asyncio.to_thread(signed_manifest, part) for part in parts]
        if all(manifest.get("composite") is not None for manifest in manifests):
            found: dict[str, Any] = manifests[-1]["composite"]
            return found
        await asyncio.sleep(0.5)
    return None


def _free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now (the node binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tails(children: list[Child]) -> str:
    return "\n".join(f"--- {child.name} ({child.log})\n{child.tail()}" for child in children)
