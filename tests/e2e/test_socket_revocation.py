"""Revoking an account or signing out closes its signalling sockets at once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from signaling.sockets import CloseCode
from tests.e2e.test_socket_limits import closed_with
from tests.signaling.test_bad_input import RawSocket
from tests.support import RunningServer

PASSWORD = "a long enough password 12"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def signed_in(server: RunningServer, role: str, name: str) -> aiohttp.ClientSession:
    """A browser-like client signed in to the console as ``role`` ``name``."""
    await server.db.add_credential(role, name)
    await server.db.set_password(role, name, PASSWORD)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    form = {"name": name, "password": PASSWORD}
    async with http.post(f"{server.url}/console/login", data=form) as response:
        assert response.status == 200, await response.text()
    return http


async def csrf(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        found = _CSRF.search(await response.text())
    assert found is not None, url
    return found[1]


@pytest.fixture
async def admin(server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    http = await signed_in(server, "admin", "root")
    yield http
    await http.close()


async def joined(ws: aiohttp.ClientWebSocketResponse, role: str, token: str | None) -> RawSocket:
    raw = RawSocket(ws)
    await raw.send({"type": "join", "role": role} | ({} if token is None else {"token": token}))
    assert (await raw.reply())["type"] == "joined"
    return raw


async def test_revoking_an_agent_closes_its_socket_before_it_can_accept(
    server: RunningServer, admin: aiohttp.ClientSession
) -> None:
    """Before the fix the revoked agent's socket went on and accepted a waiting customer."""
    agent_token = await server.db.add_credential("agent", "leaver")
    kiosk_token = await server.db.add_credential("kiosk", "RV-K1", "SH-002")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.ws_url) as a,
        http.ws_connect(server.ws_url) as k,
    ):
        await joined(a, "agent", agent_token)
        kiosk = await joined(k, "kiosk", kiosk_token)
        await kiosk.send({"type": "request_service", "service": "card_opening"})
        token = await csrf(admin, f"{server.url}/admin")
        revoke = {"action": "revoke", "name": "leaver", "role": "agent", "csrf": token}
        async with admin.post(f"{server.url}/admin", data=revoke) as response:
            assert response.status == 200
        assert await closed_with(a, timeout=2) == f"{CloseCode.REVOKED}: the account was revoked"
        assert not k.closed
    assert server.centre.sessions == {} or all(
        s.agent is None for s in server.centre.sessions.values()
    )


async def test_signing_out_closes_the_pages_socket(server: RunningServer) -> None:
    """Before the fix presence changes went on over the socket after sign-out."""
    http = await signed_in(server, "agent", "page-agent")
    try:
        async with http.ws_connect(server.ws_url, origin=server.url) as ws:
            await joined(ws, "agent", None)
            token = await csrf(http, f"{server.url}/console")
            async with http.post(f"{server.url}/console/logout", data={"csrf": token}) as response:
                assert response.status == 200  # the sign-in form, after the redirect
            assert await closed_with(ws, timeout=2) == f"{CloseCode.SIGNED_OUT}: signed out"
    finally:
        await http.close()


async def test_a_credential_revoked_elsewhere_is_refused_on_accept(server: RunningServer) -> None:
    """Revoked in the database only (another process): the next accept or request is refused."""
    agent_token = await server.db.add_credential("agent", "elsewhere")
    kiosk_token = await server.db.add_credential("kiosk", "RV-K2", "SH-002")
    late_token = await server.db.add_credential("kiosk", "RV-K3", "SH-002")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(server.ws_url) as a,
        http.ws_connect(server.ws_url) as k,
        http.ws_connect(server.ws_url) as late,
    ):
        agent = await joined(a, "agent", agent_token)
        kiosk = await joined(k, "kiosk", kiosk_token)
        revoked_kiosk = await joined(late, "kiosk", late_token)
        await kiosk.send({"type": "request_service", "service": "card_opening"})
        async with asyncio.timeout(10):  # the customer is queued before anyone is revoked
            while [s.kiosk.name for s in server.centre.queue] != ["RV-K2"]:
                await asyncio.sleep(0.02)
        await server.db.revoke_credential("agent", "elsewhere")
        await server.db.revoke_credential("kiosk", "RV-K3")
        code, message = await agent.error({"type": "accept"})
        assert code == "unauthorised" and 'agent "elsewhere" is no longer' in message
        assert await closed_with(a) == f"{CloseCode.REVOKED}: the credential was revoked"
        code, message = await revoked_kiosk.error(
            {"type": "request_service", "service": "card_opening"}
        )
        assert code == "unauthorised" and 'kiosk "RV-K3"' in message
        assert await closed_with(late) == f"{CloseCode.REVOKED}: the credential was revoked"
        # The customer who asked first still waits for an agent.
        assert [s.kiosk.name for s in server.centre.queue] == ["RV-K2"]


async def test_a_revoked_kiosk_page_goes_to_enrolment_instead_of_reconnecting(
    server: RunningServer,
) -> None:
    """The customer is not told "reconnecting" forever: the page shows enrolment again."""
    from signaling.sockets import OPEN_SOCKETS
    from tests.browser import chromium
    from tests.e2e.test_kiosk_browser import enrol

    async with chromium() as browser:
        page = await enrol(browser, server, "RV-PAGE")
        await page.wait_for_function(
            "() => window.dualrecKiosk.state.joined === true", timeout=10_000
        )
        await server.db.revoke_credential("kiosk", "RV-PAGE")
        assert server.runner.app[OPEN_SOCKETS].close_account("kiosk", "RV-PAGE") == 1
        await page.wait_for_url(f"{server.url}/kiosk/enrol", timeout=10_000)
