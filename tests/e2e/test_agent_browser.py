"""The agent's workspace in a real browser: a whole card opening with a real aiortc kiosk.

Chromium (fake camera and microphone) signs in with a password, takes the customer from
the queue, negotiates with the server's relay using the browser's own WebRTC, fills the
step's form, pushes a document, watches the customer's evidence arrive and ends the call;
the recording it leaves verifies.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
from playwright.async_api import Page, expect

from agent_console import CUSTOMER
from kiosk_client import Kiosk, open_source
from media.verify import verify_recording
from signaling import SignalingClient
from synthetic import KIOSK_LOOK
from tests.browser import artifact, chromium_with_media
from tests.support import RunningServer

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "a long password"
#: Only the agent's own evidence (sent with the event) may still be missing.
READY = """() => {
  const ws = window.dualrecConsole.state.workflow;
  return ws !== null && ws.missing.every((k) => k === "id_photo" || k === "spoken_confirmation");
}"""


async def sign_in(page: Page, url: str, name: str, password: str) -> None:
    """Sign in through the console's form."""
    await page.goto(f"{url}/console")
    assert page.url.endswith("/console/login")
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("button[type=submit]")


async def on_step(page: Page, step: str) -> None:
    """Wait until the workflow panel shows ``step`` and the customer has given its evidence."""
    await page.wait_for_function(
        "(s) => window.dualrecConsole.state.workflow?.state === s", arg=step, timeout=30_000
    )
    await page.wait_for_function(READY, timeout=30_000)


def wrong_check_digit(id_number: str) -> str:
    """The same ID number with another (so wrong) check digit."""
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")


async def test_agent_takes_a_card_opening_call_in_the_browser(server: RunningServer) -> None:
    await server.db.add_credential("agent", "ann")
    await server.db.set_password("agent", "ann", PASSWORD)
    kiosk_token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    async with chromium_with_media() as browser:
        # The pages forbid eval (CSP); Playwright's wait_for_function needs it.
        context = await browser.new_context(
            viewport={"width": 1400, "height": 900}, bypass_csp=True
        )
        page = await context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))

        await sign_in(page, server.url, "ann", "not the password")
        assert "wrong" in await page.inner_text("[role=alert]")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.url}/console")
        await page.wait_for_function("() => window.dualrecConsole?.state.presence === 'available'")
        assert "ann" in await page.inner_text("#link")

        # The labels in Chinese, remembered across a reload; then back to English.
        await page.click("#lang")
        await expect(page.locator("#queue-view h2")).to_contain_text("排队客户")
        await page.reload()
        await expect(page.locator("#queue-view h2")).to_contain_text("排队客户")
        await page.click("#lang")
        await expect(page.locator("#queue-view h2")).to_contain_text("Waiting customers")
        await page.wait_for_function("() => window.dualrecConsole?.state.presence === 'available'")

        # Away: the queue is not offered; available again.
        await page.select_option("#presence", "away")
        await page.wait_for_function("() => window.dualrecConsole.state.presence === 'away'")
        await expect(page.locator("#queue-away")).to_be_visible()
        await page.select_option("#presence", "available")
        await page.wait_for_function("() => window.dualrecConsole.state.presence === 'available'")

        kiosk = Kiosk(
            server.ws_url,
            kiosk_token,
            open_source("synthetic", KIOSK_LOOK),
            service="card_opening",
            language="en",
            think_s=0.1,
        )
        kiosk_run = asyncio.create_task(kiosk.run())
        try:
            row = page.locator("#queue-rows tr")
            await row.wait_for()
            assert "Debit card opening" in await row.inner_text()
            assert "BJ-001" in await row.inner_text()
            # The waiting time ticks up while the customer waits.
            waited = await page.inner_text("#queue-rows td.waited")
            await page.wait_for_function(
                "(w) => document.querySelector('#queue-rows td.waited').textContent !== w",
                arg=waited,
            )
            await page.click("#queue-rows button.accept")
            await page.wait_for_selector("#call-view", state="visible")
            await page.wait_for_function("() => window.dualrecConsole.state.presence === 'busy'")
            session_id = await page.evaluate("window.dualrecConsole.state.call.sessionId")

            # The customer's video plays large, own video small; the link is measured.
            await page.wait_for_function(
                "() => document.getElementById('remote-video').videoWidth > 0", timeout=20_000
            )
            await page.wait_for_function(
                "() => document.getElementById('local-video').videoWidth > 0"
            )
            # good / fair / poor: on a loaded test machine loopback is not always "good".
            await page.wait_for_selector("#netq:not([data-level=unknown])", timeout=15_000)
            assert "RTT" in await page.inner_text("#netq-detail")
            # Live checks: the synthetic camera shows colours, no face, and the agent is told.
            absent = page.locator("#live-flags li[data-flag=customer_absent]")
            await expect(absent).to_contain_text("not in the picture", timeout=40_000)

            # identity_check: a wrong ID number is refused by the step, and shown.
            await on_step(page, "identity_check")
            assert "ID card" in await page.inner_text("#wf-prompt")
            assert await page.is_checked("#ev-id_photo")
            await page.fill("#f-name", str(CUSTOMER["name"]))
            await page.fill("#f-id_number", wrong_check_digit(str(CUSTOMER["id_number"])))
            await page.click("button[data-event=identity_verified]")
            error = page.locator("#wf-error")
            await expect(error).to_be_visible()
            await expect(error).to_contain_text("step_refused")
            await expect(error).to_contain_text("id_number")
            assert await page.evaluate("window.dualrecConsole.state.workflow.state") == (
                "identity_check"
            )
            await page.fill("#f-id_number", str(CUSTOMER["id_number"]))
            await page.click("button[data-event=identity_verified]")

            # consent: the customer's tick and consent arrive as evidence.
            await on_step(page, "consent")
            await expect(page.locator("#wf-error")).to_be_hidden()
            await expect(page.locator("#wf-missing li.ok")).to_have_count(2)
            await page.click("button[data-event=consent_given]")

            # terms_disclosure: push a document to the kiosk; the customer acknowledges both.
            await page.wait_for_function(
                "() => window.dualrecConsole.state.workflow?.state === 'terms_disclosure'"
            )
            await page.click("#wf-documents button[data-document=debit_card_terms]")
            await expect(
                page.locator("#wf-documents li[data-document=debit_card_terms] .pushed")
            ).to_be_visible()
            await on_step(page, "terms_disclosure")
            await expect(page.locator("#wf-documents .acked")).to_have_count(2)
            await page.click("#use-phrase")
            await page.click("button[data-event=terms_disclosed]")

            # confirmation: the phrase the customer must say, heard and marked.
            await on_step(page, "confirmation")
            phrase = "I understand and I apply of my own free will"
            assert await page.inner_text("#wf-phrase") == phrase
            await page.click("#use-phrase")
            assert await page.input_value("#ev-spoken_confirmation") == phrase
            await page.click("button[data-event=customer_confirmed]")

            # signature: the customer's signature image arrives and is shown.
            await on_step(page, "signature")
            signature = page.locator("#wf-received li[data-kind=signature_image] img")
            await signature.wait_for()
            await page.wait_for_function(
                "() => document.querySelector('#wf-received li[data-kind=signature_image] img')"
                ".naturalWidth > 0"
            )
            received = await page.inner_text("#wf-received")
            assert "Consent" in received and "Debit Card Terms" in received
            shot = artifact("agent-call.png")
            await page.screenshot(path=str(shot), full_page=True)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, SCREENSHOTS / "agent-call.png")
            # The agent of the live call may fetch the evidence file.
            url = await signature.get_attribute("src")
            assert url is not None and url.startswith(f"/console/sessions/{session_id}/evidence/")
            live = await page.request.get(f"{server.url}{url}")
            assert live.status == 200 and live.headers["content-type"] == "image/png"
            await page.click("button[data-event=signature_captured]")

            # completed: the agent ends the call and is back at the queue, after-call.
            await page.wait_for_function(
                "() => window.dualrecConsole.state.workflow?.state === 'completed'"
            )
            await expect(page.locator("#hangup")).to_have_text("Finish and end the call")
            await page.click("#hangup")
            await page.wait_for_selector("#queue-view", state="visible")
            await page.wait_for_function(
                "() => window.dualrecConsole.state.presence === 'after_call'"
            )
            await expect(page.locator("#after-call")).to_be_visible()
            await page.click("#become-available")
            await page.wait_for_function(
                "() => window.dualrecConsole.state.presence === 'available'"
            )

            result = await asyncio.wait_for(kiosk_run, 30)
        finally:
            if not kiosk_run.done():
                kiosk_run.cancel()
        assert result.ended is not None and result.ended.by == "agent"
        assert result.steps[-1] == "completed"

        # Once the call is over, the agent may no longer fetch its evidence.
        after = await page.request.get(f"{server.url}{url}")
        assert after.status == 403

        # Sign-out needs the form's CSRF token.
        refused = await page.request.post(f"{server.url}/console/logout", form={"csrf": "forged"})
        assert refused.status == 403
        await page.click("header button")
        await page.wait_for_url(f"{server.url}/console/login")
        await page.goto(f"{server.url}/console")
        assert page.url.endswith("/console/login")
        assert page_errors == []

    detail = await server.db.get_session(session_id)
    assert str(detail.session.status) == "ended"
    assert [e.event for e in detail.events] == [
        "identity_verified",
        "consent_given",
        "terms_disclosed",
        "customer_confirmed",
        "signature_captured",
    ]
    # Stored sealed: the session opens to the number the agent typed.
    stored = await server.db.workflow_context(detail.session.id)
    assert stored["id_number"] == CUSTOMER["id_number"]
    kinds = {e.kind for e in detail.evidence}
    assert {"id_photo", "spoken_confirmation", "signature_image", "consent"} <= kinds
    job = server.centre.composite_jobs.get(session_id)
    if job is not None:
        await job
    folder = server.settings.recordings_dir / session_id
    report = await asyncio.to_thread(
        verify_recording, folder, server.centre.signing_key.public_key()
    )
    assert report.ok, report.problems

    # Supervisors and auditors may fetch a session's evidence files; an admin may not.
    for role, name in (("supervisor", "zhang.min"), ("auditor", "li.audit"), ("admin", "root")):
        await server.db.add_credential(role, name)
        await server.db.set_password(role, name, PASSWORD)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            form = {"name": name, "password": PASSWORD}
            async with http.post(f"{server.url}/console/login", data=form) as response:
                assert response.history and response.history[0].status == 303, role
            async with http.get(f"{server.url}{url}") as response:
                assert response.status == (403 if role == "admin" else 200), role
                if role != "admin":
                    assert (await response.read()).startswith(b"\x89PNG")


async def test_supervisor_page_and_role_checks(server: RunningServer) -> None:
    agent_token = await server.db.add_credential("agent", "bo")
    await server.db.add_credential("supervisor", "zhang.min")
    await server.db.set_password("supervisor", "zhang.min", PASSWORD)
    await server.db.add_credential("agent", "ann")
    await server.db.set_password("agent", "ann", PASSWORD)
    agent = SignalingClient(server.ws_url, "agent", agent_token)
    await agent.connect()
    try:
        async with chromium_with_media() as browser:
            boss = await (await browser.new_context()).new_page()
            await sign_in(boss, server.url, "zhang.min", PASSWORD)
            await boss.wait_for_url(f"{server.url}/console")
            assert "Recent sessions" in await boss.inner_text("main")
            await boss.click("a[href='/console/supervisor']")
            row = boss.locator("#agents-rows tr", has_text="bo")
            await expect(row).to_contain_text("Available")
            overview = await boss.request.get(f"{server.url}/console/api/overview")
            assert overview.status == 200
            data = await overview.json()
            assert [(a["name"], a["presence"]) for a in data["agents"]] == [("bo", "available")]
            assert data["queue"] == [] and data["calls"] == []
            await boss.screenshot(path=str(artifact("supervisor.png")), full_page=True)

            # An agent may not supervise, nor fetch evidence of a call that is not theirs.
            ann = await (await browser.new_context()).new_page()
            await sign_in(ann, server.url, "ann", PASSWORD)
            await ann.wait_for_url(f"{server.url}/console")
            for path in ("/console/supervisor", "/console/api/overview"):
                response = await ann.request.get(f"{server.url}{path}")
                assert response.status == 403, path
            response = await ann.request.get(f"{server.url}/console/sessions/{'0' * 32}/evidence/1")
            assert response.status == 403
            # Nobody signed in: the JSON API answers 401, the page sends to the sign-in.
            anonymous = await (await browser.new_context()).new_page()
            response = await anonymous.request.get(f"{server.url}/console/api/overview")
            assert response.status == 401
            await anonymous.goto(f"{server.url}/console/supervisor")
            assert anonymous.url.endswith("/console/login")
    finally:
        await agent.close()


async def test_customer_reconnecting_is_shown_and_the_agent_can_end_the_call(
    server: RunningServer,
) -> None:
    await server.db.add_credential("agent", "ann")
    await server.db.set_password("agent", "ann", PASSWORD)
    kiosk_token = await server.db.add_credential("kiosk", "BJ-001-K2", "BJ-001")
    async with chromium_with_media() as browser:
        context = await browser.new_context(bypass_csp=True)
        page = await context.new_page()
        await sign_in(page, server.url, "ann", PASSWORD)
        await page.wait_for_function("() => window.dualrecConsole?.state.presence === 'available'")
        kiosk = Kiosk(
            server.ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK), language="zh-CN"
        )
        kiosk_run = asyncio.create_task(kiosk.run())
        try:
            await page.click("#queue-rows button.accept")
            await on_step(page, "identity_check")
            # Content comes in the customer's language (Chinese here).
            assert "身份证" in await page.inner_text("#wf-prompt")
            await page.wait_for_function(
                "() => document.getElementById('remote-video').videoWidth > 0", timeout=20_000
            )
        finally:
            # The kiosk's connection drops in the middle of the call.
            kiosk_run.cancel()
            await asyncio.gather(kiosk_run, return_exceptions=True)
        await expect(page.locator("#banner")).to_be_visible()
        await expect(page.locator("#banner")).to_contain_text("reconnecting")
        await page.click("#hangup")
        await page.wait_for_selector("#queue-view", state="visible")
        await page.wait_for_function("() => window.dualrecConsole.state.presence === 'after_call'")
        await expect(page.locator("#banner")).to_be_hidden()
