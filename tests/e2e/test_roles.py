"""Each role is refused what it may not use: pages, forms and the signalling socket.

Real sign-ins on the running server: a kiosk device enrolled at ``/kiosk/enrol`` and an
agent, a supervisor, an auditor and an admin signed in at ``/console/login``, each in its
own HTTP client with its own cookie jar, plus a client that never signed in. The rules
checked here are those of the ``require(...)`` calls in ``agent_console`` and
``kiosk_client``, ``signaling.admission.PERMISSIONS`` and docs/protocol.md.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from tests.support import RunningServer

PASSWORD = "a long password 1"
#: The signed-in staff of the tests, by role.
STAFF = {"agent": "ann", "supervisor": "zhang.min", "auditor": "li.audit", "admin": "root"}
#: Every kind of visitor; ``anonymous`` never signed in.
VISITORS = ("kiosk", *STAFF, "anonymous")
#: Who may open each page or API, and where someone not signed in is sent (None: 401).
PAGES: dict[str, tuple[frozenset[str], str | None]] = {
    "/kiosk": (frozenset({"kiosk"}), "/kiosk/enrol"),
    "/console": (frozenset({"agent", "supervisor"}), "/console/login"),
    "/console/supervisor": (frozenset({"supervisor", "admin"}), "/console/login"),
    "/console/api/overview": (frozenset({"supervisor", "admin"}), None),
    "/audit": (frozenset({"auditor"}), "/console/login"),
    "/admin": (frozenset({"admin"}), "/console/login"),
}
#: Messages of the other role, as each role would send them (well formed, so only the
#: role check can refuse them).
FOREIGN: dict[str, list[dict[str, Any]]] = {
    "kiosk": [
        {"type": "accept"},
        {"type": "workflow_event", "event": "identity_verified", "data": {}},
        {"type": "push_document", "document_id": "debit_card_terms"},
        {"type": "presence", "state": "away"},
    ],
    "agent": [
        {"type": "evidence", "kind": "consent", "value": True},
        {"type": "request_service", "service": "card_opening", "language": "en"},
        {"type": "resume", "session_id": "0" * 32, "language": "en"},
    ],
}
NO_SESSION = "0" * 32
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def visitors(server: RunningServer) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    """One HTTP client per visitor, each signed in through the pages' own forms."""
    async with AsyncExitStack() as stack:
        clients: dict[str, aiohttp.ClientSession] = {}
        for visitor in VISITORS:
            jar = aiohttp.CookieJar(unsafe=True)  # it keeps cookies of 127.0.0.1
            clients[visitor] = await stack.enter_async_context(
                aiohttp.ClientSession(cookie_jar=jar)
            )
        token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
        await sign_in(clients["kiosk"], f"{server.url}/kiosk/enrol", {"token": token}, "/kiosk")
        for role, name in STAFF.items():
            await server.db.add_credential(role, name)
            await server.db.set_password(role, name, PASSWORD)
            home = {"agent": "/console", "supervisor": "/console", "auditor": "/audit"}
            form = {"name": name, "password": PASSWORD}
            await sign_in(
                clients[role], f"{server.url}/console/login", form, home.get(role, "/admin")
            )
        yield clients


async def sign_in(http: aiohttp.ClientSession, url: str, form: dict[str, str], home: str) -> None:
    """Post a sign-in form; it must set an HttpOnly, SameSite=Strict cookie and go ``home``."""
    async with http.post(url, data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert response.headers["Location"] == home
        [cookie] = response.cookies.values()
        assert cookie["httponly"] and cookie["samesite"] == "Strict", cookie


async def csrf_token(http: aiohttp.ClientSession, url: str) -> str:
    """The CSRF token in the forms of the page at ``url``."""
    async with http.get(url) as response:
        assert response.status == 200
        found = _CSRF.search(await response.text())
    assert found is not None, url
    return found.group(1)


async def test_each_page_lets_in_its_roles_only(
    server: RunningServer, visitors: dict[str, aiohttp.ClientSession]
) -> None:
    seen: dict[tuple[str, str], object] = {}
    wanted: dict[tuple[str, str], object] = {}
    for path, (roles, login) in PAGES.items():
        for visitor, http in visitors.items():
            async with http.get(f"{server.url}{path}", allow_redirects=False) as response:
                body = await response.text()
                got: object = response.status
                if response.status == 303:
                    got = ("to", response.headers["Location"])
                elif response.status == 403:
                    # The refusal names the visitor's role and whom the page is for.
                    assert f"{visitor} may not use this" in body, (path, visitor, body)
                    assert all(role in body.split("it is for:")[1] for role in roles), body
            seen[path, visitor] = got
            if visitor in roles:
                wanted[path, visitor] = 200
            elif visitor != "anonymous":
                wanted[path, visitor] = 403
            else:
                wanted[path, visitor] = 401 if login is None else ("to", login)
    assert seen == wanted


async def test_forms_without_the_csrf_token_are_refused(
    server: RunningServer, visitors: dict[str, aiohttp.ClientSession]
) -> None:
    audit = f"/audit/sessions/{NO_SESSION}"
    posts = [
        ("agent", "/console/logout"),
        ("supervisor", "/console/logout"),
        ("auditor", "/console/logout"),
        ("admin", "/console/logout"),
        ("auditor", "/audit"),
        ("auditor", f"{audit}/review"),
        ("auditor", f"{audit}/hold"),
        ("auditor", f"{audit}/export"),
        ("auditor", f"{audit}/tracks/kiosk"),
        ("admin", "/admin"),
    ]
    for role, path in posts:
        http = visitors[role]
        for form in ({}, {"csrf": "forged"}, {"csrf": ""}):
            data = form | {"action": "enrol_kiosk", "name": "BJ-009-K1", "verdict": "pass"}
            async with http.post(f"{server.url}{path}", data=data, allow_redirects=False) as r:
                assert r.status == 403, (role, path, form, r.status)
                assert "CSRF" in await r.text(), (role, path)
    # Nothing was done: everyone is still signed in, and no kiosk was enrolled.
    for role, home in (("agent", "/console"), ("auditor", "/audit"), ("admin", "/admin")):
        async with visitors[role].get(f"{server.url}{home}", allow_redirects=False) as r:
            assert r.status == 200, role
    async with visitors["admin"].get(f"{server.url}/admin") as r:
        assert "BJ-009-K1" not in await r.text()

    # With the page's own token the same forms work (the refusal was the token's).
    token = await csrf_token(visitors["admin"], f"{server.url}/admin")
    form = {"csrf": token, "action": "enrol_kiosk", "name": "BJ-009-K1", "branch": "BJ-009"}
    async with visitors["admin"].post(f"{server.url}/admin", data=form) as r:
        assert r.status == 200 and "BJ-009-K1" in await r.text()
    token = await csrf_token(visitors["agent"], f"{server.url}/console")
    async with visitors["agent"].post(
        f"{server.url}/console/logout", data={"csrf": token}, allow_redirects=False
    ) as r:
        assert (r.status, r.headers["Location"]) == (303, "/console/login")
    async with visitors["agent"].get(f"{server.url}/console", allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (303, "/console/login")


async def join(
    http: aiohttp.ClientSession, server: RunningServer, role: str, origin: str | None = "same"
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """Open ``/ws`` with ``http``'s cookies and join as ``role`` without a token.

    ``origin`` is the handshake's Origin header: the server's own by default, None for
    none. Returns the socket and the server's answer (``joined`` or ``error``).
    """
    ws = await http.ws_connect(server.ws_url, origin=server.url if origin == "same" else origin)
    await ws.send_json({"type": "join", "role": role})
    return ws, await answer(ws, "joined")


async def answer(ws: aiohttp.ClientWebSocketResponse, wanted: str) -> dict[str, Any]:
    """The next message of type ``wanted`` or ``error``, skipping the rest (queue, presence)."""
    while True:
        message: dict[str, Any] = await ws.receive_json(timeout=15)
        if message["type"] in (wanted, "error"):
            return message


async def refused_join(
    http: aiohttp.ClientSession, server: RunningServer, role: str, origin: str | None = "same"
) -> str:
    """Join as ``role``, which must be refused as ``unauthorised``; the refusal's text."""
    ws, reply = await join(http, server, role, origin)
    try:
        assert (reply["type"], reply.get("code"), reply.get("ref")) == (
            "error",
            "unauthorised",
            "join",
        ), (role, origin, reply)
        message: str = reply["message"]
        return message
    finally:
        await ws.close()


async def test_only_kiosk_and_agent_pages_join_the_socket_as_themselves(
    server: RunningServer, visitors: dict[str, aiohttp.ClientSession]
) -> None:
    # Supervisors, auditors and admins cannot join at all.
    for role in ("supervisor", "auditor", "admin"):
        for as_role in ("agent", "kiosk"):
            text = await refused_join(visitors[role], server, as_role)
            assert f"signed-in {role} may not join as" in text, (role, as_role, text)
    # A kiosk cannot pass for an agent, nor an agent for a kiosk.
    assert "signed-in kiosk may not join as" in await refused_join(
        visitors["kiosk"], server, "agent"
    )
    assert "signed-in agent may not join as" in await refused_join(
        visitors["agent"], server, "kiosk"
    )
    # Nobody signed in and no token: refused.
    for as_role in ("agent", "kiosk"):
        assert "join needs a token" in await refused_join(visitors["anonymous"], server, as_role)
    # Another site's page (or a handshake without Origin) does not get the cookie identity.
    for origin in ("http://evil.example", "http://127.0.0.1:1", "null", None):
        for role in ("kiosk", "agent"):
            text = await refused_join(visitors[role], server, role, origin)
            assert "join needs a token" in text, (role, origin)
    # Their own role from their own origin: joined, named as signed in.
    for role, name in (("kiosk", "BJ-001-K1"), ("agent", "ann")):
        ws, reply = await join(visitors[role], server, role)
        await ws.close()
        assert (reply["type"], reply["role"], reply["name"]) == ("joined", role, name)


async def test_each_role_sends_only_its_own_messages(
    server: RunningServer, visitors: dict[str, aiohttp.ClientSession]
) -> None:
    # Before joining, nothing but join is taken.
    ws = await visitors["anonymous"].ws_connect(server.ws_url)
    try:
        await ws.send_json({"type": "request_service", "service": "card_opening"})
        reply = await answer(ws, "queue_position")
        assert (reply["code"], reply["ref"]) == ("unauthorised", "request_service")
    finally:
        await ws.close()

    kiosk, joined = await join(visitors["kiosk"], server, "kiosk")
    agent, agent_joined = await join(visitors["agent"], server, "agent")
    try:
        assert joined["type"] == agent_joined["type"] == "joined"
        # A customer waits, so an agent's message would have something to act on.
        await kiosk.send_json({"type": "request_service", "service": "card_opening"})
        queued = await answer(kiosk, "queue_position")
        assert queued["type"] == "queue_position", queued
        for role, ws in (("kiosk", kiosk), ("agent", agent)):
            for message in FOREIGN[role]:
                await ws.send_json(message)
                reply = await answer(ws, "never")
                assert (reply["code"], reply["ref"]) == ("unauthorised", message["type"])
                assert reply["message"].endswith(f'{role} may not send "{message["type"]}"')
        # Refused messages changed nothing: the customer still waits, unaccepted; the
        # agent is still available; no other session was opened.
        centre = server.centre
        assert [s.id for s in centre.queue] == [queued["session_id"]]
        assert [s.agent for s in centre.queue] == [None]
        assert list(centre.sessions) == [queued["session_id"]]
        [ann] = [a for a in centre.roster.overview() if a["name"] == "ann"]
        assert (ann["presence"], ann["session_id"]) == ("available", None)
    finally:
        await kiosk.close()
        await agent.close()
