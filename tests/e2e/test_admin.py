"""The admin page: add a staff member, enrol a kiosk, revoke; CSRF and role checks."""

from __future__ import annotations

import re

import aiohttp

from storage import access_log
from tests.support import RunningServer


async def _sign_in(server: RunningServer, name: str, password: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(
        f"{server.url}/console/login", data={"name": name, "password": password}
    ) as response:
        assert response.status == 200, await response.text()
    return http


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found[1]


async def test_an_admin_adds_staff_enrols_kiosks_and_revokes(server: RunningServer) -> None:
    await server.db.add_credential("admin", "root")
    await server.db.set_password("admin", "root", "the admin password")
    http = await _sign_in(server, "root", "the admin password")
    try:
        async with http.get(f"{server.url}/admin") as response:
            assert response.status == 200
            csrf = _csrf(await response.text())
        form = {"action": "add_user", "name": "lin", "role": "auditor", "password": "auditor pw 12"}
        async with http.post(f"{server.url}/admin", data=form) as response:
            assert response.status == 403  # no CSRF token
        async with http.post(f"{server.url}/admin", data={**form, "csrf": csrf}) as response:
            assert response.status == 200
        assert await server.db.check_password("lin", "auditor pw 12") is not None
        weak = {**form, "name": "zhou", "password": "short", "csrf": csrf}
        async with http.post(f"{server.url}/admin", data=weak) as response:
            assert response.status == 400
            assert "at least 12 characters" in await response.text()
        enrol = {"action": "enrol_kiosk", "name": "GZ-1-K1", "branch": "GZ-1", "csrf": csrf}
        async with http.post(f"{server.url}/admin", data=enrol) as response:
            found = re.search(r'id="device-token">([^<]+)<', await response.text())
        assert found is not None
        kiosk = await server.db.authenticate(found[1])
        assert kiosk is not None and (kiosk.name, kiosk.branch) == ("GZ-1-K1", "GZ-1")
        revoke = {"action": "revoke", "name": "GZ-1-K1", "role": "kiosk", "csrf": csrf}
        async with http.post(f"{server.url}/admin", data=revoke) as response:
            assert response.status == 200
        assert await server.db.authenticate(found[1]) is None
    finally:
        await http.close()
    entries = [e for e in await access_log.entries(server.db) if e.action == "admin"]
    assert [e.target for e in entries] == ["lin", "GZ-1-K1", "GZ-1-K1"]
    # An auditor may not administer.
    auditor = await _sign_in(server, "lin", "auditor pw 12")
    try:
        async with auditor.get(f"{server.url}/admin", allow_redirects=False) as response:
            assert response.status == 403
    finally:
        await auditor.close()
