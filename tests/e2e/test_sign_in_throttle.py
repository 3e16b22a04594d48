"""Sign-in throttling per address and per account, and the access log recording a burst
once (issue 12).

A real server on loopback; real clients from two loopback addresses (127.0.0.1 and
127.0.0.2, both on ``lo``), so the per-address and the per-account keys can be told apart.
"""

from __future__ import annotations

import time

import aiohttp

from signaling.throttle import LIMIT, WINDOW_S
from storage import access_log
from tests.support import RunningServer

PASSWORD = "a long password 1"


def client(address: str = "127.0.0.1") -> aiohttp.ClientSession:
    """An HTTP client whose connections come from ``address``."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def attempt(http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, str]:
    """Post a sign-in form; its status and text (plus Retry-After after a ``|``)."""
    async with http.post(url, data=form, allow_redirects=False) as response:
        text = await response.text()
        return response.status, f"{text}|{response.headers.get('Retry-After', '')}"


async def failures(server: RunningServer) -> list[access_log.AccessEntry]:
    """The failed sign-ins in the access log."""
    return [e for e in await access_log.entries(server.db) if e.action == "login_failed"]


async def test_wrong_passwords_are_throttled_per_account_and_address(
    server: RunningServer,
) -> None:
    for name in ("ann", "bo"):
        await server.db.add_credential("agent", name)
        await server.db.set_password("agent", name, PASSWORD)
    login = f"{server.url}/console/login"
    async with client() as http, client("127.0.0.2") as elsewhere:
        began = time.monotonic()
        for _ in range(LIMIT):
            status, _text = await attempt(http, login, {"name": "ann", "password": "wrong guess 1"})
            assert status == 401
        checked_s = time.monotonic() - began
        # The next attempt is refused, the right password too, with a Retry-After.
        status, text = await attempt(http, login, {"name": "ann", "password": PASSWORD})
        assert status == 429, text
        page, retry_after = text.rsplit("|", 1)
        assert 0 < int(retry_after) <= WINDOW_S
        assert "Too many failed attempts" in page and "失败次数过多" in page
        # Refused attempts are not checked: many cost less than the five that were.
        began = time.monotonic()
        for _ in range(6 * LIMIT):
            status, _text = await attempt(http, login, {"name": "ann", "password": "again"})
            assert status == 429
        assert time.monotonic() - began < checked_s
        # The account is refused from another address; the address for another account.
        status, _text = await attempt(elsewhere, login, {"name": "ann", "password": PASSWORD})
        assert status == 429
        status, _text = await attempt(http, login, {"name": "bo", "password": PASSWORD})
        assert status == 429
        # Another account from another address signs in.
        status, _text = await attempt(elsewhere, login, {"name": "bo", "password": PASSWORD})
        assert status == 303
    # The burst is in the access log once: its failures up to the limit, the last one
    # marked, and none of the refused attempts.
    logged = await failures(server)
    assert [e.actor for e in logged] == ["ann"] * LIMIT
    assert [e.detail.get("throttled") for e in logged] == [None] * (LIMIT - 1) + [True]


async def test_wrong_kiosk_tokens_are_throttled_per_address(server: RunningServer) -> None:
    token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    enrol = f"{server.url}/kiosk/enrol"
    async with client() as http, client("127.0.0.2") as elsewhere:
        for n in range(LIMIT):
            status, _text = await attempt(http, enrol, {"token": f"guess-{n}"})
            assert status == 401
        status, text = await attempt(http, enrol, {"token": token})
        assert status == 429 and text.rsplit("|", 1)[1], text
        assert "Too many failed attempts" in text
        status, _text = await attempt(elsewhere, enrol, {"token": token})
        assert status == 303
    assert len(await failures(server)) == LIMIT


async def test_a_right_password_does_not_count_as_a_failure(server: RunningServer) -> None:
    await server.db.add_credential("agent", "ann")
    await server.db.set_password("agent", "ann", PASSWORD)
    login = f"{server.url}/console/login"
    async with client() as http:
        for _ in range(3 * LIMIT):
            status, _text = await attempt(http, login, {"name": "ann", "password": PASSWORD})
            assert status == 303
        for _ in range(LIMIT - 1):
            status, _text = await attempt(http, login, {"name": "ann", "password": "wrong guess"})
            assert status == 401
        status, _text = await attempt(http, login, {"name": "ann", "password": PASSWORD})
        assert status == 303
