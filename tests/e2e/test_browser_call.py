"""Both ends in one real Chromium: a browser kiosk and a browser agent sign for a product.

The kiosk page (an enrolled kiosk device) and the agent's workspace (an agent signed in
with a password) run in two contexts of one headless Chromium with a fake camera and
microphone; each negotiates with the server's relay with the browser's own WebRTC. The
customer chooses a wealth-management purchase, the agent takes the call and works each
step's form, the customer ticks, reads the pushed document and draws a signature on the
pad with the mouse, and the purchase is confirmed. The recording left behind verifies,
and its evidence holds the drawn signature.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from playwright.async_api import Browser, Page, expect

from agent_console import CUSTOMER, PRODUCT
from media.verify import verify_recording
from tests.browser import artifact, chromium_with_media
from tests.e2e.test_agent_browser import on_step, sign_in
from tests.e2e.test_flows import check_evidence, finished
from tests.e2e.test_kiosk_browser import VIEWPORT, choose, enrol, kiosk_state, sign
from tests.support import RunningServer

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "a long password 1"
#: Generous: two WebRTC peers, a relay, a recorder and speech synthesis share two cores.
WAIT_MS = 60_000
#: The path of a customer whose risk assessment (C4, a month old) is still valid.
PATH = [
    "identity_verified",
    "consent_given",
    "assessment_valid",
    "product_suitable",
    "risk_confirmed",
    "cooling_off_acknowledged",
    "signature_captured",
]


@asynccontextmanager
async def agent_page(browser: Browser, server: RunningServer) -> AsyncIterator[Page]:
    """Agent ``ann`` signed in to the workspace in a context of its own, available."""
    # The console pages forbid eval (CSP); Playwright's wait_for_function needs it.
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    try:
        page = await context.new_page()
        page.on("console", lambda message: print(f"agent page: {message.type}: {message.text}"))
        await sign_in(page, server.url, "ann", PASSWORD)
        await page.wait_for_url(f"{server.url}/console")
        await page.wait_for_function(
            "() => window.dualrecConsole?.state.presence === 'available'", timeout=WAIT_MS
        )
        yield page
    finally:
        await context.close()


async def advance(page: Page, event: str, to: str) -> None:
    """Press the agent's ``event`` button and wait for the step ``to`` (or a refusal)."""
    seen = await page.evaluate("window.dualrecConsole.state.errors.length")
    await page.click(f"#wf-events button[data-event={event}]")
    await page.wait_for_function(
        """([step, seen]) => {
          const s = window.dualrecConsole.state;
          return s.workflow?.state === step || s.errors.length > seen;
        }""",
        arg=[to, seen],
        timeout=WAIT_MS,
    )
    state: dict[str, Any] = await page.evaluate(
        "({step: window.dualrecConsole.state.workflow?.state,"
        " errors: window.dualrecConsole.state.errors})"
    )
    assert state["step"] == to, (event, state["errors"][seen:])


async def tick(kiosk: Page, kind: str) -> None:
    """The customer presses the step's ``kind`` box once the call is live."""
    button = kiosk.locator(f"#confirm-{kind}")
    await expect(button).to_be_enabled(timeout=WAIT_MS)
    await button.click()
    await expect(button).to_have_count(0, timeout=WAIT_MS)


async def kiosk_on_step(kiosk: Page, step: str) -> None:
    """Wait until the kiosk shows ``step`` with its call live."""
    await kiosk.wait_for_function(
        "(s) => window.dualrecKiosk.state.step === s && window.dualrecKiosk.state.callLive",
        arg=step,
        timeout=WAIT_MS,
    )


async def keep_screenshot(page: Page, name: str) -> None:
    """A screenshot kept as a test artifact and copied into the docs."""
    path = artifact(name)
    await page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / name)


def ink_pixels(png: Path) -> int:
    """How many pixels of a signature image are ink (dark) rather than paper."""
    image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    assert image is not None, png
    return int(np.count_nonzero(image < 128))


async def test_a_browser_kiosk_and_a_browser_agent_sign_for_a_product(
    server: RunningServer,
) -> None:
    await server.db.add_credential("agent", "ann")
    await server.db.set_password("agent", "ann", PASSWORD)
    page_errors: list[str] = []
    async with chromium_with_media() as browser, agent_page(browser, server) as agent:
        agent.on("pageerror", lambda exc: page_errors.append(f"agent: {exc}"))
        kiosk = await enrol(browser, server)
        kiosk.on("pageerror", lambda exc: page_errors.append(f"kiosk: {exc}"))
        assert kiosk.viewport_size == VIEWPORT

        # The customer chooses, consents to the recording and queues; the agent sees it.
        await choose(kiosk, "wealth_purchase")
        row = agent.locator("#queue-rows tr")
        await expect(row).to_contain_text("Wealth-management product purchase", timeout=WAIT_MS)
        await expect(row).to_contain_text("BJ-001")
        # An offer names no kiosk or session before the agent takes it.
        assert "BJ-001-K1" not in await row.inner_text()
        await agent.click("#queue-rows button.accept")
        await agent.wait_for_selector("#call-view", state="visible")
        session_id: str = await agent.evaluate("window.dualrecConsole.state.call.sessionId")
        assert (await kiosk_state(kiosk))["sessionId"] == session_id

        # Both see the other's camera through the relay.
        for page in (agent, kiosk):
            await page.wait_for_function(
                "() => document.getElementById('remote-video').videoWidth > 0", timeout=WAIT_MS
            )

        # identity_check: the agent keys in the ID card and takes the photo.
        await on_step(agent, "identity_check")
        assert await agent.is_checked("#ev-id_photo")
        await agent.fill("#f-name", str(CUSTOMER["name"]))
        await agent.fill("#f-id_number", str(CUSTOMER["id_number"]))
        await advance(agent, "identity_verified", "consent")

        # consent: the customer agrees and ticks on the kiosk.
        await kiosk_on_step(kiosk, "consent")
        await tick(kiosk, "consent")
        await tick(kiosk, "tick_confirmation")
        await on_step(agent, "consent")
        await expect(agent.locator("#wf-missing li.ok")).to_have_count(2)
        await advance(agent, "consent_given", "assessment_check")

        # assessment_check: a C4 assessment of a month ago is on record, so still valid.
        await agent.select_option("#f-risk_level", "C4")
        await agent.fill("#f-assessment_date", (date.today() - timedelta(days=30)).isoformat())
        await advance(agent, "assessment_valid", "product_selection")

        # product_selection: an R3 product suits a C4 customer.
        for name in ("product_code", "product_name", "purchase_amount"):
            await agent.fill(f"#f-{name}", str(PRODUCT[name]))
        await agent.select_option("#f-product_risk", str(PRODUCT["product_risk"]))
        await advance(agent, "product_suitable", "risk_disclosure")

        # risk_disclosure: the agent pushes the statement, the customer reads it; the
        # customer acknowledges the product description on the step's own button.
        await kiosk_on_step(kiosk, "risk_disclosure")
        await agent.click("#wf-documents button[data-document=risk_disclosure_statement]")
        await expect(
            agent.locator("#wf-documents li[data-document=risk_disclosure_statement] .pushed")
        ).to_be_visible(timeout=WAIT_MS)
        await kiosk.wait_for_selector("#document-view:visible", timeout=WAIT_MS)
        assert await kiosk.inner_text("#document-title") == "Risk Disclosure Statement"
        await kiosk.click("#document-read")
        await kiosk.wait_for_selector("#ack-risk_disclosure_statement.done", timeout=WAIT_MS)
        read = kiosk.locator("#ack-product_description")
        await expect(read).to_be_enabled(timeout=WAIT_MS)
        await read.click()
        await kiosk.wait_for_selector("#ack-product_description.done", timeout=WAIT_MS)
        # The announcement plays to its end before the step may go on.
        await on_step(agent, "risk_disclosure")
        await expect(agent.locator("#wf-documents .acked")).to_have_count(2)
        assert await agent.inner_text("#wf-phrase") == "I have read and understood the risks"
        await agent.click("#use-phrase")
        await advance(agent, "risk_confirmed", "cooling_off")

        # cooling_off: the customer ticks that they were told.
        await kiosk_on_step(kiosk, "cooling_off")
        await tick(kiosk, "tick_confirmation")
        await on_step(agent, "cooling_off")
        await advance(agent, "cooling_off_acknowledged", "signature")

        # signature: drawn on the pad with the mouse, then sent; the agent sees it arrive.
        await kiosk_on_step(kiosk, "signature")
        await kiosk.wait_for_selector("#signature:visible")
        await sign(kiosk)
        submit = kiosk.locator("#signature-submit")
        await expect(submit).to_be_enabled(timeout=WAIT_MS)
        await keep_screenshot(kiosk, "browser-call-kiosk.png")
        await submit.click()
        await on_step(agent, "signature")
        await agent.wait_for_function(
            "() => document.querySelector('#wf-received li[data-kind=signature_image] img')"
            "?.naturalWidth > 0",
            timeout=WAIT_MS,
        )
        received = await agent.inner_text("#wf-received")
        assert "Risk Disclosure Statement" in received and "Product Description" in received
        await keep_screenshot(agent, "browser-call-agent.png")
        await advance(agent, "signature_captured", "purchase_confirmed")

        # The customer's receipt; the agent finishes the call.
        await kiosk.wait_for_selector("#screen-receipt:visible", timeout=WAIT_MS)
        receipt = await kiosk.inner_text("#receipt")
        assert "Wealth-management product purchase" in receipt
        assert "Purchase confirmed" in receipt
        assert session_id.upper().startswith(await kiosk.inner_text("#receipt-reference"))
        await expect(agent.locator("#hangup")).to_have_text("Finish and end the call")
        await agent.click("#hangup")
        await agent.wait_for_function(
            "() => window.dualrecConsole.state.presence === 'after_call'", timeout=WAIT_MS
        )
        await kiosk.wait_for_function(
            "() => window.dualrecKiosk.state.sessionId === null", timeout=WAIT_MS
        )
        assert (await kiosk_state(kiosk))["screen"] == "receipt"
        await kiosk.screenshot(path=str(artifact("browser-call-receipt.png")))
        assert page_errors == []

    detail, folder = await finished(server, session_id)
    assert (str(detail.session.status), detail.session.workflow_state) == (
        "ended",
        "purchase_confirmed",
    )
    assert [e.event for e in detail.events] == PATH
    assert detail.session.workflow_context["risk_level"] == "C4"
    # Stored sealed: the session opens to the number the agent typed.
    context = await server.db.workflow_context(detail.session.id)
    assert context["id_number"] == CUSTOMER["id_number"]
    kinds = {item.kind for item in detail.evidence}
    assert {
        "id_photo",
        "consent",
        "tick_confirmation",
        "document_acknowledged",
        "spoken_confirmation",
        "tts_played",
        "signature_image",
    } <= kinds
    check_evidence(detail, folder)
    # The signature is the one drawn on the pad: a PNG with strokes of ink on it.
    [signature] = [item for item in detail.evidence if item.kind == "signature_image"]
    assert signature.file is not None and signature.file.endswith(".png")
    png = folder / signature.file
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert await asyncio.to_thread(ink_pixels, png) > 500
    report = await asyncio.to_thread(
        verify_recording, folder, server.centre.signing_key.public_key()
    )
    assert report.ok, report.problems
    parties = {(t.party, t.kind) for t in report.tracks if t.frames > 0}
    assert parties == {
        ("kiosk", "video"),
        ("kiosk", "audio"),
        ("agent", "video"),
        ("agent", "audio"),
    }
