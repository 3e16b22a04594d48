"""Who fetched a session's media and evidence is access-logged, once per run of Range
requests; an agent opens only the sessions of their own calls (issue 12).

One real card-opening call (synthetic kiosk and scripted agent over loopback), then an
auditor fetching the composite, the chapters, each party's track, the ID photo and the
signature directly (whole and by Range, without the replay page), as a real HTTP client.
"""

from __future__ import annotations

import re
from collections import Counter

import aiohttp

from common import EvidenceKind, Party
from storage import access_log
from tests.browser import chromium
from tests.e2e.test_audit_browser import composite_signed
from tests.e2e.test_web_security import PASSWORD, signed_in
from tests.support import RunningServer, run_flow

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def fetch_by_ranges(http: aiohttp.ClientSession, url: str) -> None:
    """Fetch ``url`` whole, then as a player does: three Range requests."""
    async with http.get(url) as response:
        assert response.status == 200, (url, await response.text())
        assert response.headers["Cache-Control"] == "no-store"
        size = len(await response.read())
    for start, end in ((0, 1), (size // 2, size - 1), (0, size // 3)):
        headers = {"Range": f"bytes={start}-{end}"}
        async with http.get(url, headers=headers) as response:
            assert response.status == 206, (url, response.status)
            assert len(await response.read()) == end - start + 1


async def test_media_and_evidence_fetches_are_logged_once_per_run(
    server: RunningServer,
) -> None:
    run = await run_flow(server, "card_opening")
    sid = run.session_id
    await composite_signed(server, sid)
    detail = await server.db.get_session(sid)
    files = {e.kind: e.seq for e in detail.evidence if e.file}
    photo, signature = files[EvidenceKind.ID_PHOTO], files[EvidenceKind.SIGNATURE_IMAGE]
    auditor = await signed_in(server, "auditor", "li.audit")
    base = f"{server.url}/audit/sessions/{sid}"
    try:
        async with auditor.get(f"{server.url}/audit") as response:
            found = _CSRF.search(await response.text())
        assert found is not None
        for party in Party:
            url = f"{base}/tracks/{party}?part=1"
            async with auditor.post(url, data={"csrf": found[1]}) as response:
                assert response.status == 200, await response.text()
        urls = [
            f"{base}/composite.mp4?part=1",
            f"{base}/composite.vtt?part=1",
            *(f"{base}/tracks/{party}.webm?part=1" for party in Party),
            f"{base}/evidence/{photo}",
            f"{base}/evidence/{signature}",
        ]
        for url in urls:
            await fetch_by_ranges(auditor, url)
    finally:
        await auditor.close()
    views = [
        e
        for e in await access_log.entries(server.db, limit=1000, target=sid)
        if e.actor == "li.audit" and e.action == "view"
    ]
    seen = Counter(str(e.detail.get("media")) for e in views)
    wanted = ["composite", "chapters", *(f"track {p}" for p in Party)]
    wanted += [f"evidence {photo}", f"evidence {signature}"]
    assert seen == Counter(wanted), seen
    await replay_runs_under_the_policy(server, sid)


async def replay_runs_under_the_policy(server: RunningServer, sid: str) -> None:
    """The replay page's script (an ES module, no inline script) works under the CSP."""
    async with chromium() as browser:
        page = await browser.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        await page.goto(f"{server.url}/console/login")
        await page.fill("#name", "li.audit")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.url}/audit")
        await page.goto(f"{server.url}/audit/sessions/{sid}")
        await page.wait_for_selector("#integrity.ok", timeout=30_000)
        await page.wait_for_function("() => document.getElementById('composite').readyState >= 1")
        step = page.locator("#timeline button.step").nth(1)
        offset = float(await step.get_attribute("data-offset") or "0")
        await step.click()
        await page.wait_for_function(
            "(offset) => Math.abs(document.getElementById('composite').currentTime - offset) < 1.5",
            arg=offset,
        )
        await page.click("button.party[data-party=agent]")
        await page.wait_for_function(
            "() => { const v = document.getElementById('party');"
            " return !v.hidden && v.readyState >= 1; }",
            timeout=30_000,
        )
    assert not [m for m in messages if "Content Security Policy" in m], messages


async def test_an_agent_opens_only_the_sessions_of_their_own_calls(
    server: RunningServer,
) -> None:
    run = await run_flow(server, "risk_assessment")
    detail = await server.db.get_session(run.session_id)
    assert detail.session.agent_name is not None
    page = f"{server.url}/console/sessions/{run.session_id}"
    own = await signed_in(server, "agent", detail.session.agent_name, existing=True)
    other = await signed_in(server, "agent", "nosy.agent")
    supervisor = await signed_in(server, "supervisor", "zhang.min")
    try:
        for http, status in ((own, 200), (other, 403), (supervisor, 200)):
            async with http.get(page) as response:
                assert response.status == status, await response.text()
                if status == 403:
                    assert "their own calls" in await response.text()
    finally:
        for http in (own, other, supervisor):
            await http.close()
