"""The console in a real browser: sign in, the dashboard, a session's timeline."""

from __future__ import annotations

from tests.browser import artifact, chromium
from tests.support import RunningServer, run_session


async def test_supervisor_signs_in_and_opens_a_recorded_session(server: RunningServer) -> None:
    session_id = await run_session(server, step_s=1.0)
    await server.db.add_credential("supervisor", "zhang.min")
    await server.db.set_password("supervisor", "zhang.min", "a long password")
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 860})
        await page.goto(f"{server.url}/console")
        assert page.url.endswith("/console/login")
        await page.fill("#name", "zhang.min")
        await page.fill("#password", "not the password")
        await page.click("button[type=submit]")
        assert "wrong" in await page.inner_text("[role=alert]")
        await page.fill("#password", "a long password")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.url}/console")
        sessions = await page.inner_text("#sessions")
        assert session_id[:8] in sessions and "ended" in sessions
        await page.screenshot(path=str(artifact("console-dashboard.png")), full_page=True)

        await page.click(f"a[href='/console/sessions/{session_id}']")
        await page.wait_for_selector("#timeline")
        # The timeline: a lane per track and a marker per workflow step.
        assert await page.locator("#timeline .lane .bar").count() == 4
        steps = await page.locator("#timeline .step").all_inner_texts()
        assert steps == [
            "identity_check",
            "consent",
            "terms_disclosure",
            "confirmation",
            "signature",
            "completed",
        ]
        assert "signature_captured" in await page.inner_text("#workflow")
        await page.screenshot(path=str(artifact("console-session.png")), full_page=True)

        # Signing out ends the server-side session: the console is closed again.
        await page.click("header button")
        await page.wait_for_url(f"{server.url}/console/login")
        await page.goto(f"{server.url}/console")
        assert page.url.endswith("/console/login")
