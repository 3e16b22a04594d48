"""The auditor console in headless Chromium: search, replay, review, hold, export, access log."""

from __future__ import annotations

import asyncio
import json
import shutil
import zipfile
from pathlib import Path

from sqlalchemy import text

from agent_console import CUSTOMER
from dualrec.app import RECORDINGS
from media import load_or_create_signing_key
from media.verify import verify_recording
from storage import access_log
from storage.audit import note_session_facts
from tests.browser import artifact, chromium, sign_in
from tests.support import RunningServer, run_flow

PASSWORD = "correct horse battery"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def composite_signed(server: RunningServer, session_id: str) -> None:
    """Wait until the composite is made and the manifest signed again with it."""
    store = server.runner.app[RECORDINGS]
    for _ in range(240):
        if await asyncio.to_thread(store.exists, f"{session_id}/composite.mp4"):
            manifest = json.loads(
                await asyncio.to_thread(store.read, f"{session_id}/manifest.json")
            )
            if "composite" in manifest:
                return
        await asyncio.sleep(0.25)
    raise AssertionError("the composite was not made in 60 s")


async def test_auditor_searches_replays_reviews_holds_and_exports(
    server: RunningServer, tmp_path: Path
) -> None:
    run = await run_flow(server, "wealth_purchase")
    sid = run.session_id
    await composite_signed(server, sid)
    detail = await server.db.get_session(sid)
    full_id = str(CUSTOMER["id_number"])
    masked = "*" * (len(full_id) - 4) + full_id[-4:]
    await note_session_facts(
        server.db, sid, detail.session.workflow_context, detail.session.workflow_state
    )
    step = next(e for e in detail.events if e.target == "risk_disclosure")
    assert step.offset_ms is not None
    for role, name in (("auditor", "audrey"), ("agent", "andy")):
        await server.db.add_credential(role, name)
        await server.db.set_password(role, name, PASSWORD)

    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{server.url}/audit")
        assert page.url.endswith("/console/login")
        await sign_in(page, server.url, "audrey", PASSWORD)
        await page.wait_for_url(f"{server.url}/audit")

        # Search by filters, then by the customer's full ID number.
        await page.select_option("#service", "wealth_purchase")
        await page.select_option("#branch", "SH-002")
        await page.select_option("#review_status", "unreviewed")
        async with page.expect_navigation():
            await page.click("#search button[type=submit]")
        assert await page.locator("tr.result").count() == 1
        assert "1 session" in await page.inner_text("#results h2")
        await page.fill("#customer", full_id)
        async with page.expect_navigation():
            await page.click("#search button[type=submit]")
        assert page.url == f"{server.url}/audit"  # the ID number is in no URL
        rows = page.locator("tr.result")
        assert await rows.count() == 1 and await rows.get_attribute("data-session") == sid
        assert masked in await page.inner_text("#results")
        assert full_id not in await page.content()
        await page.screenshot(path=str(artifact("audit-search.png")), full_page=True)
        for query, message in (
            ("date_from=2025-02-30", "date_from must be a date"),
            ("review_status=great", "invalid review_status 'great'"),
            ("customer=12", "search by customer with the form only"),
        ):
            response = await page.request.get(f"{server.url}/audit?{query}")
            assert response.status == 400 and message in await response.text()

        # Replay: the integrity badge, a step jump, a party's own track.
        await page.click(f"tr.result a[href='/audit/sessions/{sid}']")
        await page.wait_for_selector("#integrity.ok", timeout=30_000)
        assert full_id not in await page.content() and masked in await page.inner_text("#customer")
        assert await page.locator("img.signature").count() == 1
        assert "suitable" in await page.inner_text("#suitability")
        await page.wait_for_function("() => document.getElementById('composite').readyState >= 1")
        await page.click("#timeline button.step:text-is('risk_disclosure')")
        jumped = step.offset_ms / 1000
        await page.wait_for_function(
            f"() => Math.abs(document.getElementById('composite').currentTime - {jumped}) < 1.5"
        )
        await page.click("button.party[data-party=kiosk]")
        await page.wait_for_function(
            "() => { const v = document.getElementById('party');"
            " return !v.hidden && v.readyState >= 2 && v.duration > 5; }",
            timeout=30_000,
        )
        await page.evaluate("document.getElementById('composite').pause()")
        await page.screenshot(path=str(artifact("audit-replay.png")), full_page=True)

        # Review: refused without reasons or with an unknown verdict, then saved.
        csrf = await page.get_attribute("#review-form input[name=csrf]", "value")
        assert csrf is not None
        review_url = f"{server.url}/audit/sessions/{sid}/review"
        for form, message in (
            ({"verdict": "fail", "reasons": " "}, "a fail verdict needs reasons"),
            ({"verdict": "great", "reasons": "x"}, "invalid verdict 'great'"),
        ):
            bad = await page.request.post(review_url, form={"csrf": csrf, **form})
            assert bad.status == 400 and message in await bad.text()
        forged = await page.request.post(review_url, form={"csrf": "x", "verdict": "pass"})
        assert forged.status == 403
        await page.check("#review-form input[value=follow_up]")
        await page.fill("#reasons", f"risk warning read too fast; customer {full_id}")
        await page.click("#review-form button[type=submit]")
        await page.wait_for_selector("#review-status.follow_up")
        reviews = await page.inner_text("#reviews")
        assert "follow_up by audrey" in reviews and full_id not in reviews and masked in reviews

        # Legal hold set, then lifted, each with a reason.
        await page.fill("#hold-reason", "court order 2025-17")
        await page.click("#hold-form button[type=submit]")
        await page.wait_for_selector("#hold-badge")
        assert "Lift hold" in await page.inner_text("#hold-form")
        await page.fill("#hold-reason", "case closed")
        await page.click("#hold-form button[type=submit]")
        await page.wait_for_selector("#hold-form button:has-text('Set hold')")
        assert await page.locator("#hold-badge").count() == 0

        # Export: the zip holds a recording that verifies, and no full ID number.
        async with page.expect_download() as info:
            await page.click("#export-form button[type=submit]")
        download = await info.value
        assert download.suggested_filename.startswith("dualrec-evidence-wealth_purchase-")
        package = tmp_path / download.suggested_filename
        await download.save_as(package)

        # An agent is refused the auditor console.
        agent = await browser.new_page()
        await sign_in(agent, server.url, "andy", PASSWORD)
        await agent.wait_for_url(f"{server.url}/console")
        refused = await agent.goto(f"{server.url}/audit")
        assert refused is not None and refused.status == 403

    with zipfile.ZipFile(package) as z:
        names = set(z.namelist())
        for member in names:
            assert full_id.encode() not in z.read(member), member
        z.extractall(tmp_path / "package")
        summary = z.read("summary.html").decode()
    for name in (
        "summary.html",
        "workflow-log.json",
        "verify-report.json",
        "verify-report.txt",
        "signing-key.pub.pem",
        "evidence/index.json",
        f"recording/{sid}/manifest.json",
        f"recording/{sid}/manifest.sig",
        f"recording/{sid}/chain.jsonl",
        f"recording/{sid}/composite.mp4",
        f"recording/{sid}/kiosk-video-0000.webm",
    ):
        assert name in names, name
    assert any(n.startswith("evidence/evidence-signature-") for n in names)
    assert masked in summary and "OK" in summary
    log = json.loads((tmp_path / "package" / "workflow-log.json").read_text("utf-8"))
    assert log[0]["data"]["id_number"] == masked
    key = load_or_create_signing_key(server.settings.signing_key_path).public_key()
    report = await asyncio.to_thread(
        verify_recording, tmp_path / "package" / "recording" / sid, key
    )
    assert report.ok, report.problems

    # The access log: one entry per action, the chain intact, no full ID number.
    entries = await access_log.entries(server.db, limit=1000)
    assert full_id not in json.dumps([e.detail for e in entries], ensure_ascii=False)
    mine = [(e.action, e.actor) for e in entries if e.actor == "audrey"]
    assert [a for a, _ in mine if a == "search"] == ["search"] * 3
    about = [e for e in entries if e.target == sid]
    assert [e.action for e in about if e.action not in ("replay", "view")] == [
        "review",
        "legal_hold",
        "legal_hold_lifted",
        "export",
    ]
    # Opened, the kiosk track, and the page again after the review and each hold.
    replays = [e.detail for e in about if e.action == "replay"]
    assert len(replays) == 5 and {"part": 1, "track": "kiosk"} in replays
    # The media the page played and showed: each once, however many Range requests.
    media = [str(e.detail["media"]) for e in about if e.action == "view"]
    assert len(media) == len(set(media)) and {"composite", "track kiosk"} <= set(media), media
    hold = next(e for e in about if e.action == "legal_hold")
    assert hold.detail["reason"] == "court order 2025-17" and hold.actor == "audrey"
    report_log = await access_log.verify(server.db)
    assert report_log.ok and report_log.entries == len(entries)

    # Tampering with one entry in SQL is named by verify.
    review = next(e for e in about if e.action == "review")
    async with server.db.sessions.begin() as session:
        await session.execute(
            text("UPDATE access_log SET actor = 'mallory' WHERE seq = :seq"), {"seq": review.seq}
        )
    broken = await access_log.verify(server.db)
    assert not broken.ok and broken.first_broken == review.seq
    assert broken.problem is not None and f"entry {review.seq} was altered" in broken.problem

    DOCS.mkdir(parents=True, exist_ok=True)
    for shot in ("audit-search.png", "audit-replay.png"):
        shutil.copyfile(artifact(shot), DOCS / shot)
