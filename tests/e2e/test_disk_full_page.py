"""The pages in a real browser when the recordings disk fills up mid-call: the customer
and the agent read why the call ended, in plain words (kiosk-text.js, console-text.js),
not a bare code or "the call has ended"."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from playwright.async_api import expect

from agent_console import ScriptedAgent
from dualrec.demo import start_server
from dualrec.settings import Settings
from kiosk_client import Kiosk, open_source
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.browser import artifact, chromium_with_media
from tests.e2e.test_agent_browser import PASSWORD, sign_in
from tests.e2e.test_disk_full import fill, small_disk
from tests.e2e.test_kiosk_browser import choose, enrol
from tests.support import RunningServer

__all__ = ["small_disk"]  # the fixture, imported for this module's tests

#: kiosk-text.js's English words for recording_failed.
TOLD = (
    "The system cannot record this session right now, so it has ended and does not count. "
    "Please try again later or ask the branch staff."
)

#: console-text.js's English words for recording_failed.
AGENT_TOLD = (
    "The call could not be recorded (the server's disk is full): it has ended as failed "
    "and does not count. Tell the customer to try again later, and tell IT."
)


async def test_the_kiosk_page_says_why_the_call_ended(tmp_path: Path, small_disk: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", segment_s=3.0)
    runner, url = await start_server(settings)
    server = RunningServer(runner, url, settings)
    try:
        agent_token = await server.db.add_credential("agent", "agent-disk")
        async with chromium_with_media() as browser:
            page = await enrol(browser, server)
            await choose(page, "card_opening")
            # Steps far apart: the call is still going when the disk fills up.
            agent = ScriptedAgent(
                server.ws_url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=60
            )
            run = asyncio.create_task(agent.run())
            try:
                await page.wait_for_function(
                    "() => window.dualrecKiosk.state.callLive", timeout=60_000
                )
                await asyncio.sleep(4.0)
                await asyncio.to_thread(fill, small_disk)
                await page.wait_for_selector("#screen-ended:visible", timeout=60_000)
                told = await page.inner_text("#ended-reason")
                await page.screenshot(path=str(artifact("kiosk-recording-failed.png")))
            finally:
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run
        assert told == TOLD
        sessions = await server.db.list_sessions()
        assert [str(s.status) for s in sessions] == ["failed"]
    finally:
        await runner.cleanup()


async def test_the_agent_console_says_why_the_call_ended(tmp_path: Path, small_disk: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", segment_s=3.0)
    runner, url = await start_server(settings)
    server = RunningServer(runner, url, settings)
    try:
        await server.db.add_credential("agent", "ann")
        await server.db.set_password("agent", "ann", PASSWORD)
        kiosk_token = await server.db.add_credential("kiosk", "BJ-001-K2", "BJ-001")
        async with chromium_with_media() as browser:
            page = await (await browser.new_context(bypass_csp=True)).new_page()
            await sign_in(page, server.url, "ann", PASSWORD)
            await page.wait_for_function(
                "() => window.dualrecConsole?.state.presence === 'available'"
            )
            kiosk = Kiosk(server.ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK))
            kiosk_run = asyncio.create_task(kiosk.run())
            try:
                await page.click("#queue-rows button.accept")
                await page.wait_for_function(
                    "() => document.getElementById('remote-video').videoWidth > 0",
                    timeout=30_000,
                )
                await asyncio.sleep(4.0)
                await asyncio.to_thread(fill, small_disk)
                await page.wait_for_selector("#queue-view", state="visible", timeout=60_000)
                await expect(page.locator("#notice")).to_have_text(AGENT_TOLD)
                await page.screenshot(path=str(artifact("console-recording-failed.png")))
                ended = await asyncio.wait_for(kiosk_run, 30)
            finally:
                kiosk_run.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await kiosk_run
        assert ended.ended is not None and ended.ended.by == "server"
        sessions = await server.db.list_sessions()
        assert [str(s.status) for s in sessions] == ["failed"]
    finally:
        await runner.cleanup()
