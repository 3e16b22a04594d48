"""The shipped nginx configuration in front of a real node: pages, sign-in, the signalling
WebSocket and a whole recorded session go through it, and it tells the node who the client is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent_console import ScriptedAgent
from dualrec.loadbalancer import TEMPLATE, LoadBalancerError, render_site
from kiosk_client import Kiosk, open_source
from media import load_or_create_signing_key
from media.verify import verify_recording
from signaling.sockets import MAX_SOCKETS_PER_ADDRESS
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.cluster.conftest import SharedDatabase
from tests.cluster.harness import Balancer, Cluster
from tests.e2e.test_durable_sign_ins import queued
from tests.e2e.test_socket_revocation import joined
from tests.support import free_port

#: A client address other than nginx's own (127.0.0.1): loopback answers all of 127/8.
CLIENT = "127.0.0.2"


async def test_the_shipped_configuration_passes_nginx_t(tmp_path: Path, nginx: str) -> None:
    balancer = Balancer(nginx, tmp_path / "nginx")
    nodes = ["127.0.0.1:8081", "127.0.0.1:8082", "10.1.0.13:8080"]
    status, words = await balancer.check(nodes)
    assert status == 0, words
    assert "test is successful" in words
    site = (balancer.prefix / "dualrec.conf").read_text("utf-8")
    for node in nodes:
        assert f"server {node} max_fails=1 fail_timeout=5s;" in site
    live = [line for line in site.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in live if "@@" in line]
    # The template itself is not a configuration until its placeholders are filled.
    (balancer.prefix / "dualrec.conf").write_text(TEMPLATE.read_text("utf-8"), "utf-8")
    process = await asyncio.create_subprocess_exec(
        nginx, "-p", f"{balancer.prefix}/", "-c", str(balancer.prefix / "nginx.conf"), "-t",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await process.wait() != 0
    with pytest.raises(LoadBalancerError, match="at least one"):
        render_site([], 8080, log_dir="/var/log/nginx")


def behind_nginx(name: str) -> tuple[str, ...]:
    """A node's arguments behind nginx: it believes nginx's X-Forwarded-* (nginx is 127.0.0.1)."""
    return ("--trusted-proxy", "127.0.0.1")


@pytest.fixture
async def balanced(cluster: Cluster) -> Balancer:
    """One node behind nginx."""
    await cluster.start_nodes(1, behind_nginx)
    return await cluster.start_balancer()


async def test_a_kiosk_enrols_and_signals_through_nginx(
    balanced: Balancer, shared_database: SharedDatabase
) -> None:
    """The page's form and its cookie-signed socket, from the origin browsers see: nginx's."""
    token = await shared_database.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{balanced.url}/kiosk/enrol") as response:
            assert response.status == 200
            assert "<form" in await response.text()
        # A browser's form post carries Origin: the node sees nginx's Host, port and all.
        headers = {"Origin": balanced.url}
        form = {"token": token}
        enrol = f"{balanced.url}/kiosk/enrol"
        async with http.post(enrol, data=form, headers=headers, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
            assert response.headers["Location"] == "/kiosk"
        async with http.get(f"{balanced.url}/kiosk", allow_redirects=False) as response:
            assert response.status == 200
        # The socket is signed in by the page's cookie only if its Origin is the node's own.
        async with http.ws_connect(balanced.ws_url, origin=balanced.url) as ws:
            await joined(ws, "kiosk", None)
            assert (await queued(ws))["type"] == "queue_position"
        # Larger than the node's 4 MiB: nginx refuses it itself.
        big = b"x" * (4 * 1024 * 1024 + 1)
        async with http.post(enrol, data=big, headers=headers) as response:
            assert response.status == 413
    assert [r.status for r in balanced.requests("/ws")] == [101]


async def test_a_whole_session_signals_through_nginx(
    cluster: Cluster, balanced: Balancer, shared_database: SharedDatabase
) -> None:
    """Kiosk and agent signal through nginx; the media goes straight to the node."""
    db = shared_database.db
    kiosk_token = await db.add_credential("kiosk", "BJ-001-K2", "BJ-001")
    agent_token = await db.add_credential("agent", "agent-lb")
    kiosk = Kiosk(balanced.ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK))
    agent = ScriptedAgent(
        balanced.ws_url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=0.5
    )
    kiosk_result, agent_result = await asyncio.gather(kiosk.run(), agent.run())
    assert agent_result.session_id is not None
    assert kiosk_result.session_id == agent_result.session_id
    assert kiosk_result.ended is not None and agent_result.ended is not None
    for result in (kiosk_result, agent_result):
        assert result.received_frames["video"] > 10 and result.received_frames["audio"] > 50
    data_dir = cluster.data_dir
    key = load_or_create_signing_key(data_dir / "keys" / "recording-signing-key.pem")
    directory = data_dir / "recordings" / agent_result.session_id
    for _ in range(300):  # the manifest is signed just after the hang-up
        if (directory / "manifest.json").exists():
            break
        await asyncio.sleep(0.1)
    report = await asyncio.to_thread(verify_recording, directory, key.public_key())
    assert report.ok, report.problems
    assert [r.status for r in balanced.requests("/ws")] == [101, 101]


async def test_clients_behind_nginx_each_have_their_own_socket_limit(
    cluster: Cluster, balanced: Balancer
) -> None:
    """21 clients from 21 addresses: one address may hold 20 sockets, and the node counts each
    client's own (before --trusted-proxy, all were nginx's and the 21st socket got 429)."""
    clients = [f"127.0.0.{i + 2}" for i in range(MAX_SOCKETS_PER_ADDRESS + 1)]
    async with AsyncExitStack() as stack:
        for client in clients:
            connector = aiohttp.TCPConnector(local_addr=(client, 0))
            http = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
            await stack.enter_async_context(http.ws_connect(balanced.ws_url))
    # The node's request log names each client, not nginx (a socket's line is written as it
    # closes).
    log = cluster.nodes[0].log
    for _ in range(100):
        text = log.read_text("utf-8", errors="replace")
        if all(f'{client} "GET /ws" 101' in text for client in clients):
            break
        await asyncio.sleep(0.1)
    missing = [client for client in clients if f'{client} "GET /ws" 101' not in text]
    assert not missing, f"not in the node's request log: {missing}"
    assert '127.0.0.1 "GET /ws"' not in text


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A plain aiohttp server that keeps the headers of every request it gets."""
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers) | {"remote": request.remote or ""})
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str("hello")
            await ws.close()
            return ws
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_nginx_tells_the_node_who_the_client_is(
    tmp_path: Path, nginx: str, echo: tuple[str, list[dict[str, str]]]
) -> None:
    """X-Forwarded-For and -Host (not the client's own), -Proto, Host with its port, the upgrade."""
    upstream, seen = echo
    balancer = Balancer(nginx, tmp_path / "nginx")
    await balancer.start([upstream])
    try:
        connector = aiohttp.TCPConnector(local_addr=(CLIENT, 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example"}
            async with http.get(f"{balancer.url}/kiosk", headers=forged) as response:
                assert await response.text() == "ok"
            async with http.ws_connect(balancer.ws_url) as ws:
                assert (await ws.receive_str()) == "hello"
    finally:
        await balancer.stop()
    page, socket = seen
    for headers in (page, socket):
        assert headers["X-Forwarded-For"] == CLIENT
        assert headers["X-Real-IP"] == CLIENT
        assert headers["X-Forwarded-Proto"] == "http"
        assert headers["Host"] == f"127.0.0.1:{balancer.port}"
        assert headers["X-Forwarded-Host"] == headers["Host"]  # never the client's own
        # The peer is nginx: a node believes the headers from it with --trusted-proxy only.
        assert headers["remote"] == "127.0.0.1"
    assert socket["Upgrade"].lower() == "websocket"
    assert socket["Connection"].lower() == "upgrade"
    assert "Connection" not in page  # kept alive to the node: HTTP/1.1's default
