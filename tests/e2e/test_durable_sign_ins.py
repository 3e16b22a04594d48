"""Sign-ins outlive the server: ``dualrec serve`` killed and started again signs nobody out.

Real server processes on one data folder, on SQLite and on PostgreSQL; the browsers are
aiohttp clients that sign in through the pages' own forms and keep their cookies.
Signing out and revoking end a sign-in, and stay done across the restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from yarl import URL

from signaling.sockets import CloseCode
from signaling.webauth import KIOSK_COOKIE
from storage import Database, normalise_url, web_session_key
from tests.e2e.test_socket_limits import closed_with
from tests.e2e.test_socket_revocation import csrf, joined
from tests.storage.conftest import DEFAULT_POSTGRES_URL
from tests.support import RunningServer, free_port, start_serve

PASSWORD = "a long enough password 12"
STAFF = {"ann": "agent", "zhang": "supervisor", "root": "admin"}


@dataclass
class Backend:
    """Where the server's database lives: the data folder's SQLite, or a PostgreSQL one."""

    data_dir: Path
    db: Database
    args: tuple[str, ...] = ()


async def on_server(url: str, statement: str) -> None:
    """Run ``statement`` outside a transaction (CREATE and DROP DATABASE need that)."""
    engine = create_async_engine(
        normalise_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A database for ``dualrec serve``, opened by the test too (to add credentials)."""
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    if request.param == "sqlite":
        async with Database(f"sqlite:///{data_dir / 'dualrec.db'}") as db:
            yield Backend(data_dir, db)
        return
    server_url = os.environ.get("DUALREC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"test_sign_ins_{uuid.uuid4().hex}"
    try:
        await on_server(server_url, f'CREATE DATABASE "{name}"')
    except (OSError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        if os.environ.get("DUALREC_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = str(URL(server_url).with_path(f"/{name}"))
    try:
        async with Database(url) as db:
            yield Backend(data_dir, db, ("--database-url", url))
    finally:
        await on_server(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


class Server:
    """``dualrec serve`` on one port and data folder, killed and started again at will."""

    def __init__(self, backend: Backend) -> None:
        self.backend, self.port = backend, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await start_serve(self.backend.data_dir, self.port, *self.backend.args)

    async def kill(self) -> None:
        """SIGKILL: nothing the server does on a clean stop can matter."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    async def status(self, http: aiohttp.ClientSession, path: str) -> tuple[int, str]:
        """The status of GET ``path`` and where it sends the browser, without following."""
        async with http.get(f"{self.url}{path}", allow_redirects=False) as response:
            return response.status, response.headers.get("Location", "")

    async def post(self, http: aiohttp.ClientSession, path: str, form: dict[str, str]) -> int:
        async with http.post(f"{self.url}{path}", data=form, allow_redirects=False) as response:
            return response.status

    @asynccontextmanager
    async def socket(
        self, http: aiohttp.ClientSession
    ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """The page's signalling socket, carrying its cookie from our own origin."""
        async with http.ws_connect(f"ws://127.0.0.1:{self.port}/ws", origin=self.url) as ws:
            yield ws


@pytest.fixture
async def served(backend: Backend) -> AsyncIterator[Server]:
    running = Server(backend)
    await running.start()
    try:
        yield running
    finally:
        await running.kill()


async def queued(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    """Ask for a service (a step the server rechecks); the answer must be a queue position."""
    await ws.send_str(json.dumps({"type": "request_service", "service": "card_opening"}))
    async with asyncio.timeout(10):
        while True:
            message: dict[str, object] = json.loads((await ws.receive()).data)
            if message["type"] != "presence":
                return message


async def test_a_restart_signs_nobody_out_and_ends_no_sign_out_or_revocation(
    backend: Backend, served: Server
) -> None:
    db, server = backend.db, served
    kiosk_token = await db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    for name, role in STAFF.items():
        await db.add_credential(role, name)
        await db.set_password(role, name, PASSWORD)
    async with AsyncExitStack() as stack:
        browsers = {
            who: await stack.enter_async_context(
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            )
            for who in [*STAFF, "kiosk"]
        }
        for name in STAFF:
            form = {"name": name, "password": PASSWORD}
            assert await server.post(browsers[name], "/console/login", form) == 303
        assert await server.post(browsers["kiosk"], "/kiosk/enrol", {"token": kiosk_token}) == 303
        ann, kiosk, root = browsers["ann"], browsers["kiosk"], browsers["root"]

        await server.restart()
        assert await server.status(ann, "/console") == (200, "")
        assert await server.status(browsers["zhang"], "/console") == (200, "")
        assert await server.status(kiosk, "/kiosk") == (200, "")
        assert await server.status(root, "/admin") == (200, "")
        async with server.socket(ann) as agent_ws, server.socket(kiosk) as kiosk_ws:
            await joined(agent_ws, "agent", None)
            await joined(kiosk_ws, "kiosk", None)
            assert (await queued(kiosk_ws))["type"] == "queue_position"
            # Signing out (a sign-in made before the restart) closes the page's socket.
            token = await csrf(ann, f"{server.url}/console")
            assert await server.post(ann, "/console/logout", {"csrf": token}) == 303
            assert await closed_with(agent_ws) == f"{CloseCode.SIGNED_OUT}: signed out"
            # Revoking the kiosk on the admin page closes its socket and ends its sign-in.
            revoke = {"action": "revoke", "role": "kiosk", "name": "BJ-001-K1"}
            token = await csrf(root, f"{server.url}/admin")
            assert await server.post(root, "/admin", revoke | {"csrf": token}) == 200
            assert await closed_with(kiosk_ws) == f"{CloseCode.REVOKED}: the account was revoked"
        assert await server.status(ann, "/console") == (303, "/console/login")
        assert await server.status(kiosk, "/kiosk") == (303, "/kiosk/enrol")

        # Revoked while no server runs: the next one knows it.
        await server.kill()
        await db.revoke_credential("supervisor", "zhang")
        await server.start()
        assert await server.status(ann, "/console") == (303, "/console/login")
        assert await server.status(kiosk, "/kiosk") == (303, "/kiosk/enrol")
        assert await server.status(browsers["zhang"], "/console") == (303, "/console/login")
        assert await server.status(root, "/admin") == (200, "")  # through two restarts
        async with server.socket(kiosk) as ws:
            code = await joined_or_refused(ws, "kiosk")
        assert code == "unauthorised"


async def joined_or_refused(ws: aiohttp.ClientWebSocketResponse, role: str) -> str:
    """Join with the page's cookie: "joined", or the error's code."""
    await ws.send_str(json.dumps({"type": "join", "role": role}))
    message = json.loads((await ws.receive(timeout=10)).data)
    return str(message["type"] if message["type"] == "joined" else message["code"])


async def test_a_sign_out_made_elsewhere_refuses_the_pages_socket(
    server: RunningServer,
) -> None:
    """Another node deleted the sign-in: this node's socket of that page is refused its step."""
    token = await server.db.add_credential("kiosk", "SH-002-K1", "SH-002")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{server.url}/kiosk/enrol", data={"token": token}) as response:
            assert response.status == 200 and response.url.path == "/kiosk"
        cookie = http.cookie_jar.filter_cookies(URL(server.url))[KIOSK_COOKIE].value
        async with http.ws_connect(server.ws_url, origin=server.url) as ws:
            await joined(ws, "kiosk", None)
            await server.db.end_web_session(web_session_key(cookie))
            message = await queued(ws)
            assert message["type"] == "error" and message["code"] == "unauthorised"
            assert re.search(r'kiosk "SH-002-K1" is no longer', str(message["message"]))
            assert await closed_with(ws) == f"{CloseCode.REVOKED}: the credential was revoked"
