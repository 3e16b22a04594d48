"""An auditor in headless Chromium works an inspected call: its flags on the replay
timeline (a mark seeks the composite), the search by a failed check, and the review of
the part from the queue, one flag overruled with a reason and the others confirmed.

The call is a real one (synthetic kiosk and scripted agent through the relay), inspected
by its own post-call job: the synthetic cameras show colours, not faces, so the face
checks fail and say where.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from storage import access_log
from tests.browser import artifact, chromium, sign_in
from tests.support import RunningServer, run_session

PASSWORD = "correct horse battery"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def inspected(server: RunningServer, session_id: str) -> None:
    """Wait for the post-call jobs to have inspected the call's part and stored it."""
    for _ in range(900):
        if await server.db.get_inspection(session_id, 1) is not None:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the part was not inspected by its job")


async def test_auditor_sees_the_flags_searches_by_check_and_reviews_from_the_queue(
    server: RunningServer,
) -> None:
    sid = await run_session(server)
    await inspected(server, sid)
    summary = await server.db.get_inspection(sid, 1)
    assert summary is not None and "customer_face" in summary.failed
    flags, waiting = await server.db.part_flags(sid, 1)
    assert waiting is True
    await server.db.add_credential("auditor", "audrey")
    await server.db.set_password("auditor", "audrey", PASSWORD)

    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await sign_in(page, server.url, "audrey", PASSWORD)
        await page.wait_for_url(f"{server.url}/audit")

        # Search by a failed check: the call is found, with its inspection verdict.
        await page.select_option("#failed_check", "customer_face")
        async with page.expect_navigation():
            await page.click("#search button[type=submit]")
        rows = page.locator("tr.result")
        assert await rows.count() == 1 and await rows.get_attribute("data-session") == sid
        assert "不通过 fail" in await rows.locator(".inspection").inner_text()
        await page.screenshot(path=str(artifact("audit-search-check.png")), full_page=True)
        await page.select_option("#failed_check", "signature")
        async with page.expect_navigation():
            await page.click("#search button[type=submit]")
        assert await page.locator("tr.result").count() == 0

        # The queue lists the part, its verdict and flags; it opens the replay.
        await page.goto(f"{server.url}/audit/queue")
        row = page.locator(f"tr.queued[data-session='{sid}']")
        assert await row.count() == 1
        text = await row.inner_text()
        assert "不通过 fail" in text and "客户人脸 Customer's face" in text
        assert await row.locator(".flag").count() == len(flags)
        await page.screenshot(path=str(artifact("audit-queue.png")), full_page=True)
        await row.locator("a").click()
        await page.wait_for_selector("#inspection-verdict")

        # Every flag is on the timeline, coloured by verdict; a mark seeks the composite.
        for flag in flags:
            lane = page.locator(f"#timeline .lane.flags[data-check='{flag.check}']")
            assert await lane.locator(f"button.flag.{flag.verdict}").count() >= 1, flag
        face = page.locator("#timeline button.flag.fail[data-check='customer_face']").last
        title = await face.get_attribute("title")
        assert title is not None and "客户人脸 Customer's face" in title
        assert "画面中看不到客户的脸" in title and "不通过 fail" in title
        await page.wait_for_function("() => document.getElementById('composite').readyState >= 1")
        offset = await face.get_attribute("data-offset")
        assert offset is not None
        await face.click()
        await page.wait_for_function(
            f"() => Math.abs(document.getElementById('composite').currentTime - {offset}) < 1.5"
        )
        await page.evaluate("document.getElementById('composite').pause()")
        await page.wait_for_function("() => document.getElementById('composite').readyState >= 2")
        # The inspection's report is chained and signed into the part: it still verifies.
        await page.wait_for_selector("#integrity.ok", timeout=30_000)
        assert "客户人脸" in await page.inner_text("#flags tr[data-check='customer_face']")
        await page.screenshot(path=str(artifact("audit-replay-flags.png")), full_page=True)
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact("audit-replay-flags.png"), DOCS / "audit-replay-flags.png")

        # Overruling needs a reason: the browser's form asks the server, which refuses.
        form = page.locator("#flags tr[data-check='customer_face'] form.flag-review")
        await form.locator("input[value=overrule]").check()
        async with page.expect_navigation():
            await form.locator("button[type=submit]").click()
        assert "needs a reason" in await page.inner_text("body")
        await page.go_back()

        # One flag overruled with a reason, every other confirmed.
        for flag in flags:
            form = page.locator(f"#flags tr[data-check='{flag.check}'] form.flag-review")
            if flag.check == "customer_face":
                await form.locator("input[value=overrule]").check()
                await form.locator("input[name=reason]").fill("the customer is there: dim light")
            else:
                await form.locator("input[value=confirm]").check()
            async with page.expect_navigation():
                await form.locator("button[type=submit]").click()
        await page.wait_for_selector("#reviewed")
        decided = await page.inner_text("#flags tr[data-check='customer_face']")
        assert "overruled 推翻" in decided and "by audrey" in decided
        assert "the customer is there: dim light" in decided
        assert await page.locator("form.flag-review").count() == 0
        await page.screenshot(path=str(artifact("audit-flags-decided.png")), full_page=True)

        await page.goto(f"{server.url}/audit/queue")
        assert await page.locator(f"tr.queued[data-session='{sid}']").count() == 0

    assert (await server.db.part_flags(sid, 1))[1] is False
    entries = await access_log.entries(server.db, limit=1000)
    decisions = [e.detail for e in entries if e.action == "flag_review" and e.target == sid]
    assert len(decisions) == len(flags)
    face_decision = next(d for d in decisions if d["check"] == "customer_face")
    assert face_decision["decision"] == "overruled" and face_decision["part"] == 1
