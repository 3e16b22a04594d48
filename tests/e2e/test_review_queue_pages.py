"""The review queue's pages and forms over HTTP: who may use them, what they refuse.

Real sign-ins on the running server (the pages' own forms), sessions and inspection
summaries written to its database as the post-call job writes them.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from agent_console.audit.flags import marks
from inspection import Check, InspectionReport, Model, Span, StepReport, Verdict
from storage import access_log
from tests.support import RunningServer

PASSWORD = "a long password 1"
STAFF = {"auditor": "li.audit", "agent": "ann", "admin": "root", "supervisor": "zhang.min"}
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def staff(server: RunningServer) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    """One signed-in HTTP client per role, and one (``anonymous``) never signed in."""
    async with AsyncExitStack() as stack:
        clients = {}
        for role in (*STAFF, "anonymous"):
            jar = aiohttp.CookieJar(unsafe=True)  # it keeps cookies of 127.0.0.1
            clients[role] = await stack.enter_async_context(aiohttp.ClientSession(cookie_jar=jar))
        for role, name in STAFF.items():
            await server.db.add_credential(role, name)
            await server.db.set_password(role, name, PASSWORD)
            form = {"name": name, "password": PASSWORD}
            async with clients[role].post(
                f"{server.url}/console/login", data=form, allow_redirects=False
            ) as response:
                assert response.status == 303
        yield clients


async def inspected(
    server: RunningServer, verdict: str, failed: list[str], needs_review: list[str], minute: int
) -> str:
    """An ended session whose part 1 was inspected (the summary only: no report file)."""
    db, sid = server.db, uuid.uuid4().hex
    at = T0 + timedelta(minutes=minute)
    await db.create_session(
        id=sid,
        service="wealth_purchase",
        branch="BJ-001",
        kiosk_name="K1",
        flow="wealth_purchase",
        workflow_state="identity_check",
        created_at=at,
    )
    await db.start_session(sid, agent_name="ann", started_at=at, recording_dir=sid)
    await db.end_session(sid, ended_at=at + timedelta(minutes=4), end_reason="done")
    await db.save_inspection(
        sid,
        1,
        verdict=verdict,
        score=50.0,
        file=f"{sid}/inspection.json",
        sha256="0" * 64,
        inspected_at=at,
        failed=failed,
        needs_review=needs_review,
    )
    return sid


async def csrf(http: aiohttp.ClientSession, url: str) -> str:
    """The CSRF token of the page's forms."""
    async with http.get(url) as response:
        assert response.status == 200, url
        found = _CSRF.search(await response.text())
    assert found is not None
    return found.group(1)


async def test_only_auditors_see_the_queue_and_decide_flags(
    server: RunningServer, staff: dict[str, aiohttp.ClientSession]
) -> None:
    sid = await inspected(server, "fail", ["customer_face"], ["second_face"], 1)
    for role, http in staff.items():
        async with http.get(f"{server.url}/audit/queue", allow_redirects=False) as response:
            text = html.unescape(await response.text())
            if role == "auditor":
                assert response.status == 200 and f'data-session="{sid}"' in text
                assert "客户人脸 Customer's face" in text and "第二张人脸 Second face" in text
            elif role == "anonymous":
                assert response.headers["Location"] == "/console/login"
            else:
                assert response.status == 403 and f"{role} may not use this" in text
    url = f"{server.url}/audit/sessions/{sid}/flags"
    form = {"part": "1", "check": "customer_face", "decision": "confirm", "reason": ""}
    for role in ("agent", "admin", "supervisor"):
        token = "x"  # they have no audit page to take a token from: the role is refused first
        async with staff[role].post(url, data={**form, "csrf": token}) as response:
            assert response.status == 403 and f"{role} may not use this" in await response.text()
    for bad in ({}, {"csrf": "forged"}):
        async with staff["auditor"].post(url, data={**form, **bad}) as response:
            assert response.status == 403 and "CSRF" in await response.text()
    flags, waiting = await server.db.part_flags(sid, 1)
    assert waiting is True and not any(f.decided for f in flags)


async def test_flag_decisions_are_validated_kept_and_logged(
    server: RunningServer, staff: dict[str, aiohttp.ClientSession]
) -> None:
    sid = await inspected(server, "fail", ["customer_face"], ["second_face"], 2)
    http = staff["auditor"]
    token = await csrf(http, f"{server.url}/audit/sessions/{sid}")
    url = f"{server.url}/audit/sessions/{sid}/flags"

    async def post(**form: str) -> tuple[int, str]:
        data = {"csrf": token, "part": "1", "check": "customer_face", **form}
        async with http.post(url, data=data, allow_redirects=False) as response:
            return response.status, await response.text()

    refused = [
        (
            {"decision": "overrule", "reason": "  "},
            400,
            "overruling 'customer_face' needs a reason",
        ),
        ({"decision": "perhaps"}, 400, "decision must be confirm or overrule, got 'perhaps'"),
        ({"decision": "overrule", "reason": "x" * 501}, 400, "longer than 500 characters"),
        ({"decision": "confirm", "part": "one"}, 400, '"part" must be a whole number'),
        ({"decision": "confirm", "check": "extra_faces"}, 404, "'extra_faces' not found"),
        ({"decision": "confirm", "part": "2"}, 404, "flag of part 2 'customer_face' not found"),
    ]
    for form, status, message in refused:
        got, text = await post(**form)
        assert (got, message in text) == (status, True), (form, got, text)

    status, _ = await post(decision="overrule", reason="the face is there, in poor light")
    assert status == 303
    status, text = await post(decision="confirm")
    assert status == 409 and "customer_face of part 1 is already overruled by li.audit" in text
    async with http.get(f"{server.url}/audit/queue") as response:
        assert f'data-session="{sid}"' in await response.text()  # second_face is undecided
    status, _ = await post(check="second_face", decision="confirm")
    assert status == 303
    async with http.get(f"{server.url}/audit/queue") as response:
        assert f'data-session="{sid}"' not in await response.text()

    async with http.get(f"{server.url}/audit/sessions/{sid}") as response:
        page = html.unescape(await response.text())
    assert "overruled 推翻" in page and "the face is there, in poor light" in page
    assert "confirmed 确认" in page and "reviewed 已复核" in page
    assert "inspection.json unreadable" in page  # no report file: said, no marks
    entries = await access_log.entries(server.db, limit=1000)
    decided = [e.detail for e in entries if e.action == "flag_review" and e.target == sid]
    assert [(d["check"], d["decision"]) for d in decided] == [
        ("customer_face", "overruled"),
        ("second_face", "confirmed"),
    ]
    assert all(e.actor == "li.audit" for e in entries if e.action == "flag_review")
    assert any(e.action == "review_queue" for e in entries)


async def test_search_filters_by_inspection_verdict_and_failed_check(
    server: RunningServer, staff: dict[str, aiohttp.ClientSession]
) -> None:
    failing = await inspected(server, "fail", ["customer_face"], [], 3)
    doubtful = await inspected(server, "needs_review", [], ["second_face"], 4)
    http = staff["auditor"]

    async def found(query: str) -> set[str]:
        async with http.get(f"{server.url}/audit?{query}") as response:
            assert response.status == 200, await response.text()
            return set(re.findall(r'data-session="([0-9a-f]{32})"', await response.text()))

    assert await found("failed_check=customer_face") == {failing}
    assert await found("inspection=needs_review") == {doubtful}
    assert await found("inspection=fail&failed_check=customer_face") == {failing}
    assert not {failing, doubtful} & await found("inspection=not_inspected")
    for query, message in (
        ("inspection=great", "inspection must be one of pass, needs_review, fail, not_inspected"),
        ("failed_check=extra_faces", "unknown check 'extra_faces' for failed_check"),
        ("failed_check=DROP%20TABLE", "unknown check 'DROP TABLE'"),
    ):
        async with http.get(f"{server.url}/audit?{query}") as response:
            assert response.status == 400 and message in await response.text(), query
    # The form posts the same filters.
    token = await csrf(http, f"{server.url}/audit")
    form = {"csrf": token, "failed_check": "customer_face", "inspection": ""}
    async with http.post(f"{server.url}/audit", data=form) as response:
        text = await response.text()
    assert f'data-session="{failing}"' in text and f'data-session="{doubtful}"' not in text
    assert "不通过 fail" in text


def test_flagged_ranges_become_marks_on_the_timeline() -> None:
    def check(name: str, verdict: Verdict, *spans: Span) -> Check:
        return Check(name, verdict, 0.0, Model("rules", "1"), f"{name} detail", spans)

    report = InspectionReport(
        session_id="a" * 32,
        part=1,
        flow="card_opening",
        inspected_at=T0.isoformat(),
        duration_s=10.0,
        steps=(
            StepReport(
                "consent",
                2_000,
                6_000,
                (
                    check("customer_face", Verdict.FAIL, Span(2_000, 3_000), Span(9_000, 12_000)),
                    check("evidence", Verdict.NEEDS_REVIEW),  # no range: its step's
                    check("agent_face", Verdict.PASS, Span(2_000, 3_000)),
                ),
            ),
        ),
        checks=(check("kiosk_audio", Verdict.FAIL),),  # of the part, no range: all of it
    )
    found = [(m.check, m.verdict, m.step, m.start_ms, m.end_ms) for m in marks(report, 10_000)]
    assert found == [
        ("kiosk_audio", "fail", None, 0, 10_000),
        ("customer_face", "fail", "consent", 2_000, 3_000),
        ("evidence", "needs_review", "consent", 2_000, 6_000),
        ("customer_face", "fail", "consent", 9_000, 12_000),
    ]
    placed = {(m.check, m.start_ms): (m.left, m.width) for m in marks(report, 10_000)}
    assert placed[("customer_face", 2_000)] == (20.0, 10.0)
    assert placed[("customer_face", 9_000)] == (90.0, 10.0)  # kept on the timeline
