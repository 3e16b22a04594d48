"""X-Forwarded-* believed from the configured proxies only, on the real app.

The per-address socket limit (``signaling.sockets``) counts ``request.remote``: these tests
use it to see whose address the app took. Loopback answers all of 127/8, so a client can
come from 127.0.0.1 (the proxy, when it is trusted) or 127.0.0.2 (anyone else).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from dualrec.demo import start_server
from dualrec.settings import Settings
from signaling.sockets import OPEN_SOCKETS
from signaling.webauth import KIOSK_COOKIE
from tests.support import RunningServer

PROXY = "127.0.0.1"
STRANGER = "127.0.0.2"
#: Sockets per address in these tests (the default is 20).
LIMIT = 3


@pytest.fixture
async def behind_proxy(settings: Settings) -> AsyncIterator[RunningServer]:
    """The app trusting 127.0.0.1 as its reverse proxy."""
    trusting = Settings(
        data_dir=settings.data_dir, segment_s=settings.segment_s, trusted_proxies=(PROXY,)
    )
    runner, url = await start_server(trusting)
    runner.app[OPEN_SOCKETS].per_address = LIMIT
    try:
        yield RunningServer(runner, url, trusting)
    finally:
        await runner.cleanup()


async def sockets_from(server: RunningServer, source: str, forwarded_for: list[str]) -> list[int]:
    """Open one socket per ``forwarded_for`` address from ``source``: each handshake's status."""
    statuses = []
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        for address in forwarded_for:
            headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "http"}
            try:
                await stack.enter_async_context(http.ws_connect(server.ws_url, headers=headers))
            except aiohttp.WSServerHandshakeError as exc:
                statuses.append(exc.status)
            else:
                statuses.append(101)
    return statuses


CLIENTS = [f"198.51.100.{i}" for i in range(1, LIMIT + 2)]


async def test_without_trusted_proxies_a_forged_x_forwarded_for_is_ignored(
    server: RunningServer,
) -> None:
    """The default: nobody's X-Forwarded-For is believed; the real peer's limit holds."""
    assert server.settings.trusted_proxies == ()
    server.runner.app[OPEN_SOCKETS].per_address = LIMIT
    assert await sockets_from(server, STRANGER, CLIENTS) == [101] * LIMIT + [429]


async def test_a_peer_that_is_not_a_trusted_proxy_is_not_believed(
    behind_proxy: RunningServer,
) -> None:
    assert await sockets_from(behind_proxy, STRANGER, CLIENTS) == [101] * LIMIT + [429]


async def test_a_trusted_proxy_tells_who_each_client_is(behind_proxy: RunningServer) -> None:
    # Each client its own limit: more sockets in all than one address may hold.
    assert await sockets_from(behind_proxy, PROXY, CLIENTS) == [101] * (LIMIT + 1)
    # ... and one client behind the proxy is still held to its own limit.
    one = [CLIENTS[0]] * (LIMIT + 1)
    assert await sockets_from(behind_proxy, PROXY, one) == [101] * LIMIT + [429]


async def test_a_trusted_proxy_forwards_one_client_or_none(behind_proxy: RunningServer) -> None:
    """A chain of clients (a client's own header kept by a misconfigured proxy) is refused;
    a request of the proxy's own (a health check) is served as the proxy's."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(PROXY, 0))) as http:
        async with http.get(f"{behind_proxy.url}/healthz") as response:
            assert response.status == 200
        chain = {"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}
        async with http.get(f"{behind_proxy.url}/healthz", headers=chain) as response:
            assert response.status == 400
        one = {"X-Forwarded-For": "198.51.100.1"}
        async with http.get(f"{behind_proxy.url}/healthz", headers=one) as response:
            assert response.status == 200


async def test_cookies_are_secure_when_the_trusted_proxy_says_https(
    behind_proxy: RunningServer,
) -> None:
    """Over a TLS-terminating proxy the sign-in cookie is Secure, and the Origin check holds."""
    token = await behind_proxy.db.add_credential("kiosk", "PX-K1", "BJ-001")
    enrol = f"{behind_proxy.url}/kiosk/enrol"
    host = behind_proxy.url.removeprefix("http://")
    for source, secure in ((PROXY, True), (STRANGER, False)):
        headers = {
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Proto": "https",
            # What a browser on https://host sends with the form.
            "Origin": f"https://{host}",
        }
        connector = aiohttp.TCPConnector(local_addr=(source, 0))
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.post(
                enrol, data={"token": token}, headers=headers, allow_redirects=False
            ) as response,
        ):
            assert response.status == 303, await response.text()
            assert bool(response.cookies[KIOSK_COOKIE]["secure"]) is secure
    # Another site's page is still refused behind the proxy.
    headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    headers["Origin"] = "https://evil.example"
    connector = aiohttp.TCPConnector(local_addr=(PROXY, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(enrol, data={"token": token}, headers=headers, allow_redirects=False) as response,
    ):
        assert response.status == 403
