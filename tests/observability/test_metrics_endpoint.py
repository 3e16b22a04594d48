"""``/metrics`` on a real server: who may read it, and what a real call leaves in it.

The server runs on loopback with a metrics token; staff sign in through the console's
own form. The metrics are parsed with prometheus-client's own parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from dualrec.security_headers import HEADERS
from dualrec.settings import Settings
from tests.e2e.test_roles import PASSWORD, sign_in
from tests.support import RunningServer, run_session

TOKEN = "scrape-token-\u00e9-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The usual test server, with a metrics token."""
    return Settings(
        data_dir=tmp_path / "var",
        segment_s=3.0,
        tts_speed_wpm=900,
        metrics_token=TOKEN,
        node_id="node-a",
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client with a cookie jar of its own."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        yield client


async def signed_in(server: RunningServer, http: aiohttp.ClientSession, role: str) -> None:
    """Sign ``http`` in to the console as a new member of staff with ``role``."""
    name = f"{role}-metrics"
    await server.db.add_credential(role, name)
    await server.db.set_password(role, name, PASSWORD)
    home = {"agent": "/console", "admin": "/admin"}[role]
    await sign_in(http, f"{server.url}/console/login", {"name": name, "password": PASSWORD}, home)


async def scrape(
    server: RunningServer, http: aiohttp.ClientSession, token: str | None = None
) -> tuple[int, dict[str, str], str]:
    """GET /metrics: the status, the headers and the body."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with http.get(f"{server.url}/metrics", headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """One sample's value (KeyError if it is missing)."""
    return found[name, tuple(sorted(labels.items()))]


async def test_metrics_refused_without_credentials_or_with_a_wrong_token(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for token in (None, "wrong", TOKEN[:-1], ""):
        status, headers, body = await scrape(server, http, token)
        assert status == 401, (token, body)
        assert headers["WWW-Authenticate"] == "Bearer"
        assert "dualrec_" not in body
        for name, header in HEADERS.items():
            assert headers[name] == header, name
        assert headers["Cache-Control"] == "no-store"


async def test_metrics_refused_to_an_agent(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await signed_in(server, http, "agent")
    status, headers, body = await scrape(server, http)
    assert status == 403, body
    assert "dualrec_" not in body
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_metrics_given_to_an_admin_and_to_the_token(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await signed_in(server, http, "admin")
    status, headers, body = await scrape(server, http)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert headers["Cache-Control"] == "no-store"
    found = samples(body)
    assert value(found, "dualrec_node_info", node="node-a", process="node") == 1
    assert value(found, "dualrec_live_calls") == 0
    assert value(found, "dualrec_queue_length", service="card_opening") == 0

    async with aiohttp.ClientSession() as stranger:  # no cookie: the token alone
        status, _, body = await scrape(server, stranger, TOKEN)
    assert status == 200, body
    assert ("dualrec_node_info", (("node", "node-a"), ("process", "node"))) in samples(body)


async def test_a_real_call_shows_in_the_metrics(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await run_session(server)
    status, _, body = await scrape(server, http, TOKEN)
    assert status == 200, body
    found = samples(body)
    for kind in ("audio", "video"):
        assert value(found, "dualrec_media_frames_received_total", kind=kind) > 0, kind
        assert value(found, "dualrec_media_frames_forwarded_total", kind=kind) > 0, kind
        assert value(found, "dualrec_media_frames_recorded_total", kind=kind) > 0, kind
    assert value(found, "dualrec_live_calls") == 0
    assert value(found, "dualrec_queue_length", service="card_opening") == 0
    assert value(found, "dualrec_queue_wait_seconds_count", service="card_opening") == 1
    assert value(found, "dualrec_pairing_latency_seconds_count", service="card_opening") == 1
    assert value(found, "dualrec_event_loop_lag_seconds_count") > 0


async def test_database_errors_are_counted(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with server.db.sessions() as session:
        with pytest.raises(Exception, match="no such table"):
            await session.execute(text("SELECT * FROM no_such_table"))
    status, _, body = await scrape(server, http, TOKEN)
    assert status == 200, body
    assert value(samples(body), "dualrec_database_errors_total", error="OperationalError") >= 1
