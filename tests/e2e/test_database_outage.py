"""A call rides out PostgreSQL going away (issue 11 point 4b, issue 13).

A real server on a real PostgreSQL database (a fresh one per test), a synthetic kiosk and
a scripted agent. Mid-call, the server's connections are terminated (``pg_terminate_backend``)
or the network to the database is cut for 10 s (a relay between them, ``tcp_relay``): the
call goes on, the writes wait and land, nothing recorded is lost, the recording verifies,
and ``/healthz`` says the database is degraded while it is and ok after.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import exc as sa_exc
from yarl import URL

from dualrec.demo import start_server
from dualrec.settings import Settings
from media.verify import verify_recording
from signaling.session import LiveSession
from storage import SessionDetail
from tests.e2e.test_durable_sign_ins import on_server
from tests.storage.conftest import DEFAULT_POSTGRES_URL
from tests.support import RunningServer, run_session
from tests.tcp_relay import TcpRelay

pytestmark = pytest.mark.postgres

EVENTS = [
    ("identity_check", "identity_verified", "consent"),
    ("consent", "consent_given", "terms_disclosure"),
    ("terms_disclosure", "terms_disclosed", "confirmation"),
    ("confirmation", "customer_confirmed", "signature"),
    ("signature", "signature_captured", "completed"),
]
OUTAGE_S = 10.0


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the server, dropped afterwards."""
    server_url = os.environ.get("DUALREC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"test_outage_{uuid.uuid4().hex}"
    try:
        await on_server(server_url, f'CREATE DATABASE "{name}"')
    except (OSError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        if os.environ.get("DUALREC_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        yield str(URL(server_url).with_path(f"/{name}"))
    finally:
        await on_server(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


async def started(tmp_path: Path, database_url: str) -> RunningServer:
    """The real app on an ephemeral port and ``database_url`` (settings as the conftest's)."""
    settings = Settings(
        data_dir=tmp_path / "var", segment_s=3.0, tts_speed_wpm=900, database_url=database_url
    )
    runner, url = await start_server(settings)
    return RunningServer(runner, url, settings)


async def healthz(server: RunningServer) -> dict[str, Any]:
    """The server's /healthz (always 200, degraded or not)."""
    async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def call_past_first_step(server: RunningServer) -> LiveSession:
    """The live call, once its first workflow event is stored (the call is well under way)."""
    while True:
        for live in list(server.centre.sessions.values()):
            if live.recording and live.state != EVENTS[0][0]:
                assert isinstance(live, LiveSession)
                return live
        await asyncio.sleep(0.05)


async def assert_nothing_lost(server: RunningServer, session_id: str) -> SessionDetail:
    """Every event, file and evidence item is stored and the recording verifies."""
    detail = await server.db.get_session(session_id)
    assert str(detail.session.status) == "ended"
    assert detail.session.workflow_state == "completed"
    assert [(e.source, e.event, e.target) for e in detail.events] == EVENTS
    assert [e.seq for e in detail.events] == [1, 2, 3, 4, 5]
    directory = server.settings.recordings_dir / session_id
    report = await asyncio.to_thread(verify_recording, directory)
    assert report.ok, report.problems
    # Every segment on disk has its row, and every evidence row its file.
    on_disk = sorted(p.name for p in directory.glob("*.webm"))
    assert sorted(Path(f.path).name for f in detail.files) == on_disk
    assert all(f.closed for f in detail.files)
    for item in detail.evidence:
        if item.file is not None:
            assert (directory / item.file).is_file(), item.file
    assert [item.seq for item in detail.evidence] == list(range(1, len(detail.evidence) + 1))
    return detail


async def test_connections_terminated_mid_call(postgres_url: str, tmp_path: Path) -> None:
    """pg_terminate_backend of all the server's connections, twice mid-call: nothing lost."""
    name = URL(postgres_url).path.lstrip("/")
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    server_url = str(URL(postgres_url).with_path("/postgres"))
    server = await started(tmp_path, postgres_url)
    try:
        call = asyncio.create_task(run_session(server, step_s=1.2))
        live = await call_past_first_step(server)
        await on_server(server_url, terminate)
        # Again at the next step, so connections made after the first cut are cut too.
        state = live.state
        while live.state == state and not call.done():
            await asyncio.sleep(0.05)
        await on_server(server_url, terminate)
        session_id = await call
        await assert_nothing_lost(server, session_id)
        assert (await healthz(server))["status"] == "ok"
    finally:
        await server.runner.cleanup()


async def test_postgres_unreachable_for_10_s(postgres_url: str, tmp_path: Path) -> None:
    """The network to PostgreSQL cut for 10 s mid-call: writes wait, land, nothing lost."""
    target = URL(postgres_url)
    relay = TcpRelay(target.host or "127.0.0.1", target.port or 5432)
    await relay.start()
    through_relay = str(target.with_port(relay.port))
    server = await started(tmp_path, through_relay)
    try:
        assert (await healthz(server))["status"] == "ok"
        call = asyncio.create_task(run_session(server, step_s=1.2))
        await call_past_first_step(server)
        cut_at = datetime.now(UTC)
        started_cut = time.monotonic()
        await relay.cut()
        seen: list[dict[str, Any]] = []
        while time.monotonic() - started_cut < OUTAGE_S:
            seen.append(await healthz(server))
            assert not call.done(), "the call ended while the database was unreachable"
            await asyncio.sleep(0.5)
        restored_at = datetime.now(UTC)
        accepted = relay.accepted
        await relay.start()
        session_id = await call

        degraded = [body for body in seen if body["status"] == "degraded"]
        assert degraded, "healthz never said degraded during the outage"
        assert all(body["degraded"] == [] for body in seen if body["status"] == "ok")
        assert "database unreachable since" in degraded[-1]["degraded"][0]
        assert "waiting to be retried" in degraded[-1]["degraded"][0]

        detail = await assert_nothing_lost(server, session_id)
        # Writes made during the outage waited and landed after it, through new connections.
        written = [e.at for e in detail.events] + [e.at for e in detail.evidence]
        assert any(cut_at <= at <= restored_at for at in written), (cut_at, written)
        assert relay.accepted > accepted
        after = await healthz(server)
        assert (after["status"], after["degraded"]) == ("ok", [])
    finally:
        await server.runner.cleanup()
        await relay.cut()
