"""The kiosk page in a real browser: enrolment, a whole flow by video, and a network drop."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
from playwright.async_api import Browser, Page, ViewportSize
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from agent_console import AgentResult, ScriptedAgent
from kiosk_client import GROWTH_ANSWERS, open_source
from media.verify import verify_recording
from signaling import PushDocument
from synthetic import AGENT_LOOK
from tests.browser import artifact, chromium, chromium_with_media
from tests.e2e.test_flows import PATHS, check_evidence, finished
from tests.support import RunningServer

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: Big enough for the call screen's two columns.
VIEWPORT: ViewportSize = {"width": 1366, "height": 900}


async def enrol(browser: Browser, server: RunningServer, name: str = "BJ-001-K1") -> Page:
    """A fresh browser context, enrolled as kiosk ``name`` of branch BJ-001, on /kiosk."""
    token = await server.db.add_credential("kiosk", name, "BJ-001")
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    # The page's console, for the log of a failed test.
    page.on("console", lambda message: print(f"kiosk page: {message.type}: {message.text}"))
    await page.goto(f"{server.url}/kiosk")
    assert page.url == f"{server.url}/kiosk/enrol"
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.url}/kiosk")
    return page


async def kiosk_state(page: Page) -> dict[str, Any]:
    """The page's own view of where it stands (``window.dualrecKiosk.state``)."""
    state: dict[str, Any] = await page.evaluate("window.dualrecKiosk.state")
    return state


async def choose(page: Page, service: str) -> None:
    """Pick ``service`` in English, agree to the recording, and get in the queue."""
    await page.click("#lang")
    assert await page.get_attribute("html", "lang") == "en"
    await page.click(f".tile[data-service={service}]")
    await page.wait_for_selector("#screen-consent:visible")
    await page.click("#consent-agree")
    await page.wait_for_selector("#screen-waiting:visible")
    await page.wait_for_function(
        "() => document.querySelector('#queue-position').textContent === '1'"
    )
    # No call today yet: 10 minutes a call, and no agent signed in to share the queue.
    assert await page.inner_text("#queue-wait") == "about 10 min"


async def sign(page: Page) -> None:
    """Write a signature on the pad with the mouse: a few strokes across it."""
    box = await page.locator("#signature-pad").bounding_box()
    assert box is not None
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    for start, points in [
        ((0.1, 0.7), [(0.18, 0.2), (0.25, 0.75), (0.32, 0.3), (0.4, 0.7)]),
        ((0.45, 0.4), [(0.55, 0.35), (0.6, 0.7), (0.7, 0.25), (0.85, 0.6)]),
    ]:
        await page.mouse.move(x + start[0] * w, y + start[1] * h)
        await page.mouse.down()
        for px, py in points:
            await page.mouse.move(x + px * w, y + py * h, steps=8)
        await page.mouse.up()


async def act_as_customer(
    page: Page, answers: Mapping[str, str] = GROWTH_ANSWERS, *, pause_at: str | None = None
) -> list[str]:
    """Do what each step asks on the screen until the receipt shows; the steps seen.

    With ``pause_at`` it returns as soon as that step is on the screen and the call is up
    (before acting).
    """
    steps: list[str] = []
    while True:
        state = await kiosk_state(page)
        if state["screen"] in ("receipt", "ended"):
            return steps
        step = state["step"]
        if step is not None and (not steps or steps[-1] != step):
            steps.append(step)
        if step is not None and step == pause_at and state["callLive"]:
            return steps
        # The step may move on while it is being answered (the agent was quicker): a control
        # that went with it is not waited for, the next screen is looked at instead.
        with contextlib.suppress(PlaywrightTimeoutError):
            await answer_what_is_asked(page, answers)
        await asyncio.sleep(0.2)


async def answer_what_is_asked(page: Page, answers: Mapping[str, str]) -> None:
    """Press whatever the current step asks for that is enabled now."""
    if await page.is_visible("#questions"):
        for fieldset in await page.locator("#question-list fieldset").all():
            first = fieldset.locator("button").first
            question = await first.get_attribute("data-question", timeout=5_000)
            assert question is not None
            await page.click(f"#q-{question}-{answers[question]}", timeout=5_000)
        if await page.is_enabled("#questions-submit"):
            await page.click("#questions-submit")
    # One button at a time: each press redraws the step.
    buttons = page.locator("#confirms button:enabled, #documents button:enabled")
    if await buttons.count() > 0:
        await buttons.first.click(timeout=5_000)
        return
    if await page.is_visible("#signature") and await page.is_enabled("#signature-clear"):
        if not await page.is_enabled("#signature-submit") and await kiosk_state_live(page):
            await sign(page)
        if await page.is_enabled("#signature-submit"):
            await page.click("#signature-submit")


async def kiosk_state_live(page: Page) -> bool:
    return bool((await kiosk_state(page))["callLive"])


def scripted_agent(server: RunningServer, token: str) -> ScriptedAgent:
    """The agent of the other end, real aiortc, with its synthetic camera and microphone."""
    return ScriptedAgent(
        server.ws_url,
        token,
        open_source("synthetic", AGENT_LOOK),
        step_s=0.5,
        evidence_timeout_s=30.0,
    )


@asynccontextmanager
async def agent_at_work(
    server: RunningServer, token: str
) -> AsyncIterator[tuple[ScriptedAgent, asyncio.Task[AgentResult]]]:
    """The scripted agent and its run as a task, cancelled if the test leaves before it ends."""
    agent = scripted_agent(server, token)
    task = asyncio.create_task(agent.run())
    try:
        yield agent, task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def screenshot_call(page: Page) -> None:
    """The call screen once the agent's picture shows, kept for the docs."""
    await page.wait_for_function(
        "() => document.querySelector('#remote-video').videoWidth > 0", timeout=10_000
    )
    path = artifact("kiosk-call.png")
    await page.screenshot(path=str(path))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / "kiosk-call.png")


def kiosk_video_is_real(folder: Path) -> int:
    """Decode the kiosk's recorded video: frames that are pictures, not a flat colour."""
    decoded = 0
    for segment in sorted(folder.glob("kiosk-video-*.webm")):
        with av.open(str(segment)) as container:
            for frame in container.decode(video=0):
                picture = frame.to_ndarray(format="gray")
                if float(np.std(picture)) > 5.0:
                    decoded += 1
    return decoded


async def test_a_customer_buys_a_product_on_the_kiosk_page(server: RunningServer) -> None:
    agent_token = await server.db.add_credential("agent", "agent-wang")
    async with chromium_with_media() as browser:
        page = await enrol(browser, server)
        # The chooser shows every service, in Chinese by default.
        assert await page.get_attribute("html", "lang") == "zh-CN"
        assert "理财产品签约购买" in await page.inner_text("#screen-services")
        await page.screenshot(path=str(artifact("kiosk-services.png")))
        await choose(page, "wealth_purchase")
        assert "Wealth-management product purchase" in await page.inner_text("#waiting-service")

        async with agent_at_work(server, agent_token) as (agent, task):
            steps = await asyncio.wait_for(act_as_customer(page, pause_at="risk_disclosure"), 120)
            await screenshot_call(page)
            # The agent shows a document: it opens full screen; reading it acknowledges it.
            await agent.client.send(PushDocument(document_id="risk_disclosure_statement"))
            await page.wait_for_selector("#document-view:visible")
            assert await page.inner_text("#document-title") == "Risk Disclosure Statement"
            assert len(await page.inner_text("#document-body")) > 40
            await page.screenshot(path=str(artifact("kiosk-document.png")))
            await page.click("#document-read")
            await page.wait_for_selector("#ack-risk_disclosure_statement.done")
            steps += await asyncio.wait_for(act_as_customer(page), timeout=120)
            result = await asyncio.wait_for(task, timeout=30)

        assert result.session_id is not None and result.ended is not None
        assert steps[0] == "identity_check" and "signature" in steps
        # The receipt: service, outcome, a short reference and the time.
        receipt = await page.inner_text("#receipt")
        assert "Wealth-management product purchase" in receipt
        assert "Purchase confirmed" in receipt
        reference = await page.inner_text("#receipt-reference")
        assert result.session_id.upper().startswith(reference)
        await page.screenshot(path=str(artifact("kiosk-receipt.png")))
        # The session's end does not take the receipt away early.
        await page.wait_for_function("() => window.dualrecKiosk.state.sessionId === null")
        assert (await kiosk_state(page))["screen"] == "receipt"

    detail, folder = await finished(server, result.session_id)
    assert (str(detail.session.status), detail.session.workflow_state) == (
        "ended",
        "purchase_confirmed",
    )
    assert [e.event for e in detail.events] == PATHS["wealth_purchase"]
    kinds = {item.kind for item in detail.evidence}
    assert {"consent", "questionnaire_answers", "signature_image"} <= kinds
    assert detail.session.workflow_context["risk_level"] == "C4"
    check_evidence(detail, folder)
    report = await asyncio.to_thread(
        verify_recording, folder, server.centre.signing_key.public_key()
    )
    assert report.ok, report.problems
    [video] = [t for t in report.tracks if (t.party, t.kind) == ("kiosk", "video")]
    assert video.frames > 100
    assert await asyncio.to_thread(kiosk_video_is_real, folder) > 100


async def test_only_enrolled_kiosks_open_the_kiosk_page(server: RunningServer) -> None:
    agent_token = await server.db.add_credential("agent", "agent-li")
    await server.db.set_password("agent", "agent-li", "correct horse battery")
    async with chromium() as browser:
        page = await browser.new_page(viewport=VIEWPORT)
        await page.goto(f"{server.url}/kiosk")
        assert page.url == f"{server.url}/kiosk/enrol"
        for token in ("not-a-token", agent_token):  # nor may a staff token enrol a kiosk
            await page.fill("#token", token)
            await page.click("button[type=submit]")
            alert = await page.inner_text("[role=alert]")
            assert "not a valid kiosk device token" in alert
        await page.goto(f"{server.url}/kiosk")
        assert page.url == f"{server.url}/kiosk/enrol"
        await page.screenshot(path=str(artifact("kiosk-enrol-refused.png")))

    # A signed-in member of staff is told the page is not theirs.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        form = {"name": "agent-li", "password": "correct horse battery"}
        async with http.post(f"{server.url}/console/login", data=form) as response:
            assert response.status == 200 and response.url.path == "/console"
        async with http.get(f"{server.url}/kiosk") as response:
            assert response.status == 403
            assert "kiosk" in await response.text()


async def test_the_same_session_goes_on_after_a_network_drop(server: RunningServer) -> None:
    agent_token = await server.db.add_credential("agent", "agent-zhao")
    async with chromium_with_media() as browser:
        page = await enrol(browser, server, "BJ-001-K2")
        await choose(page, "wealth_purchase")
        async with agent_at_work(server, agent_token) as (_, task):
            await asyncio.wait_for(act_as_customer(page, pause_at="questionnaire_finance"), 90)
            before = await kiosk_state(page)

            await page.evaluate("window.dualrecKiosk.dropNetwork()")
            await page.wait_for_selector("#banner:visible")
            await page.screenshot(path=str(artifact("kiosk-reconnecting.png")))
            # Back at the same step of the same session, with a new call.
            await page.wait_for_function("() => window.dualrecKiosk.state.callLive", timeout=30_000)
            after = await kiosk_state(page)
            assert (after["sessionId"], after["step"]) == (before["sessionId"], before["step"])

            steps = await asyncio.wait_for(act_as_customer(page), timeout=150)
            result = await asyncio.wait_for(task, timeout=30)
            assert result.session_id == before["sessionId"] and result.ended is not None
            assert steps[0] == "questionnaire_finance" and "signature" in steps
            assert "Purchase confirmed" in await page.inner_text("#receipt")

    assert result.session_id is not None
    detail, _ = await finished(server, result.session_id)
    assert (str(detail.session.status), detail.session.workflow_state) == (
        "ended",
        "purchase_confirmed",
    )
    assert detail.session.recording_parts == 2
