"""One middleware answers our errors with the status their kind means (dualrec.http_errors)."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from dualrec.http_errors import http_status
from media import MediaError, NegotiationError
from signaling import ProtocolError, Unauthorised
from storage import Conflict, NotFound, StorageError, StorageUnavailable
from tests.support import RunningServer
from workflow import StepRefused, UnknownFlow

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("session", "x"), 404),
        (UnknownFlow("nope"), 404),
        (Conflict("already under legal hold"), 409),
        (StorageUnavailable("database unavailable"), 503),
        (StorageError("verdict must be pass, fail or follow_up"), 400),
        (StepRefused("card_opening", "signature", "next", "no signature yet"), 400),
        (ProtocolError("bad field"), 400),
        (Unauthorised("not yours"), 403),
        (NegotiationError("bad SDP"), 500),
        (MediaError("encoder failed"), 500),
    ],
)
def test_each_error_root_has_one_status(error: Exception, status: int) -> None:
    assert http_status(error) == status


@pytest.fixture
async def auditor(server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    """An auditor signed in through the console's form."""
    await server.db.add_credential("auditor", "li.audit")
    await server.db.set_password("auditor", "li.audit", "a long password 1")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        form = {"name": "li.audit", "password": "a long password 1"}
        async with http.post(f"{server.url}/console/login", data=form) as response:
            assert response.status == 200 and response.url.path == "/audit"
        yield http


async def test_pages_answer_missing_and_conflicting_records(
    server: RunningServer, auditor: aiohttp.ClientSession
) -> None:
    unknown = secrets.token_hex(16)
    for path in (f"/audit/sessions/{unknown}", f"/console/sessions/{unknown}"):
        async with auditor.get(f"{server.url}{path}") as response:
            assert response.status == 404, path
            assert unknown in await response.text()

    session_id = secrets.token_hex(16)
    await server.db.create_session(
        id=session_id,
        service="card_opening",
        branch="BJ-001",
        kiosk_name="BJ-001-K1",
        flow="card_opening",
        workflow_state="identity_check",
        created_at=datetime.now(UTC),
    )
    replay = f"{server.url}/audit/sessions/{session_id}"
    async with auditor.get(replay) as response:
        assert response.status == 200
        found = _CSRF.search(await response.text())
    assert found is not None
    hold = {"csrf": found[1], "action": "set", "reason": "court order 2025-17"}
    async with auditor.post(f"{replay}/hold", data=hold, allow_redirects=False) as response:
        assert response.status == 303
    # Setting it again conflicts with the session's state: 409, naming why.
    async with auditor.post(f"{replay}/hold", data=hold, allow_redirects=False) as response:
        assert response.status == 409
        assert "already under legal hold" in await response.text()
