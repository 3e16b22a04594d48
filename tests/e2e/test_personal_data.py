"""Personal data after a real session of every flow: nothing in clear, nothing left readable.

Each flow runs end to end between a synthetic kiosk and the scripted agent; then the
database file, the recording folder and the exported evidence package are read as an
outsider would read them, and the data folder's modes are checked.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import stat
import zipfile
from pathlib import Path

import aiohttp
import pytest

import agent_console
from agent_console import CUSTOMER
from tests.e2e.test_flows import LAST, finished
from tests.e2e.test_roles import csrf_token, sign_in
from tests.support import RunningServer, run_flow
from workflow import mask_id

FULL_ID = str(CUSTOMER["id_number"])
PASSWORD = "correct horse battery"


def database_dump(path: Path) -> str:
    """Every row of every table of the SQLite file, as text (blocking)."""
    with sqlite3.connect(path) as connection:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        rows = [
            repr(row) for table in tables for row in connection.execute(f'SELECT * FROM "{table}"')
        ]
    return "\n".join(rows)


def readable_by_others(root: Path) -> list[str]:
    """Folders and files under ``root`` (and itself) with any group or other permission."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root)} {mode:o}")
    return found


def text_files_holding(root: Path, needle: str) -> list[str]:
    """The files under ``root`` whose bytes hold ``needle`` (UTF-8)."""
    raw = needle.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and raw in p.read_bytes()]


async def export_package(server: RunningServer, session_id: str) -> tuple[int, bytes]:
    """An auditor signs in, opens the session's page and exports its package."""
    await server.db.add_credential("auditor", "audrey")
    await server.db.set_password("auditor", "audrey", PASSWORD)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        form = {"name": "audrey", "password": PASSWORD}
        await sign_in(http, f"{server.url}/console/login", form, "/audit")
        page = f"{server.url}/audit/sessions/{session_id}"
        csrf = await csrf_token(http, page)
        async with http.post(f"{page}/export", data={"csrf": csrf}) as response:
            return response.status, await response.read()


@pytest.mark.parametrize("service", sorted(LAST))
async def test_a_session_of_each_flow_keeps_the_id_number_sealed_and_private(
    server: RunningServer, service: str
) -> None:
    run = await run_flow(server, service)
    detail, folder = await finished(server, run.session_id)
    assert detail.session.workflow_state == LAST[service]
    masked = mask_id(FULL_ID)

    # The database file: the ID number only sealed (and no unkeyed digest of it).
    dump = await asyncio.to_thread(database_dump, server.settings.data_dir / "dualrec.db")
    assert FULL_ID not in dump and "sealed" in dump
    # What pages are handed: masked, as before; a resume gets it back.
    assert detail.session.workflow_context["id_number"] == masked
    assert (await server.db.workflow_context(run.session_id))["id_number"] == FULL_ID
    # The recording folder (manifest, chain, evidence files) never held it.
    assert await asyncio.to_thread(text_files_holding, folder, FULL_ID) == []

    # The evidence package of every flow exports, with the ID masked, and leaves no copy.
    cache_root = server.runner.app[agent_console.AUDIT_CACHE].root
    status, body = await export_package(server, run.session_id)
    assert status == 200, body[:500]
    with zipfile.ZipFile(io.BytesIO(body)) as package:
        summary = package.read("summary.html").decode()
        assert masked in summary
        for name in package.namelist():
            assert FULL_ID.encode() not in package.read(name), name
        log = json.loads(package.read("workflow-log.json"))
    assert log[0]["data"]["id_number"] == masked
    assert list((cache_root / "exports").iterdir()) == []

    # The data folder and everything in it: the service user's only.
    assert await asyncio.to_thread(readable_by_others, server.settings.data_dir) == []
    assert await asyncio.to_thread(readable_by_others, cache_root) == []
