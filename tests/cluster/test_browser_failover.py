"""A browser kiosk through nginx whose node is killed mid-call (issue 11, point 9).

The kiosk page runs in headless Chromium (fake camera and microphone) and reaches two
``dualrec serve`` nodes through nginx, as a branch does: it is enrolled there, asks for a
service and is served by a scripted agent signed in on the other node. Mid-call the
kiosk's node, which owns the call, is killed with SIGKILL. The page reconnects through the
same address, reaches the survivor, sends ``resume``, and the same agent finishes the call
at the step where it stood; both recording parts verify with ``dualrec verify``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from playwright.async_api import Browser, Page

from agent_console import ScriptedAgent
from common import Role
from kiosk_client import open_source
from synthetic import AGENT_LOOK
from tests.browser import artifact, chromium_with_media
from tests.cluster.conftest import RedisTarget, SharedDatabase
from tests.cluster.harness import Cluster, Node
from tests.cluster.nodes import all_see, on_redis, verify, wait_for
from tests.e2e.test_kiosk_browser import VIEWPORT, act_as_customer, choose, kiosk_state

#: The step at which the owner is killed: the customer has its questionnaire on screen.
KILLED_AT = "questionnaire_finance"


async def enrolled_page(browser: Browser, url: str, token: str) -> Page:
    """A fresh context enrolled as a kiosk through ``url`` (nginx), on its /kiosk page."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.on("console", lambda message: print(f"kiosk page: {message.type}: {message.text}"))
    await page.goto(f"{url}/kiosk")
    assert page.url == f"{url}/kiosk/enrol"
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/kiosk")
    return page


async def owner_of_the_queued(nodes: Sequence[Node]) -> tuple[Node, Node]:
    """The node that owns the one session (its kiosk's socket is there), and the other."""
    counts: list[int] = []

    async def one_owns() -> bool:
        counts[:] = [(await node.healthz())["sessions"] for node in nodes]
        return sorted(counts) == [0, 1]

    await wait_for(one_owns, "one node owns the kiosk's session")
    first, second = nodes
    return (first, second) if counts[0] == 1 else (second, first)


async def test_a_browser_kiosk_resumes_through_nginx_when_its_node_is_killed(
    cluster: Cluster, shared_database: SharedDatabase, redis_target: RedisTarget
) -> None:
    def args(name: str) -> Sequence[str]:
        return (*on_redis(redis_target)(name), "--trusted-proxy", "127.0.0.1")

    nodes = await cluster.start_nodes(2, args)
    await wait_for(lambda: all_see(nodes, 2), "every node sees the others")
    balancer = await cluster.start_balancer()
    db = shared_database.db
    kiosk_token = await db.add_credential(Role.KIOSK, "BJ-001-K1", "BJ-001")
    agent_token = await db.add_credential(Role.AGENT, "agent-zhao")

    async with chromium_with_media() as browser:
        page = await enrolled_page(browser, balancer.url, kiosk_token)
        await choose(page, "wealth_purchase")
        owner, other = await owner_of_the_queued(nodes)
        staff = ScriptedAgent(
            other.ws_url,
            agent_token,
            open_source("synthetic", AGENT_LOOK),
            step_s=0.5,
            evidence_timeout_s=90.0,
        )
        call = asyncio.create_task(staff.run())
        try:
            await asyncio.wait_for(act_as_customer(page, pause_at=KILLED_AT), 120)
            before = await kiosk_state(page)
            # The first part holds some of the page's video: a closed segment of it at least.
            part = cluster.data_dir / "recordings" / before["sessionId"]

            async def kiosk_video_recorded() -> bool:
                return len(list(part.glob("kiosk-video-*.webm"))) >= 2

            await wait_for(kiosk_video_recorded, "the kiosk's video is recorded", 60.0)

            await owner.kill()
            # The page's socket ends with its node; it reconnects through nginx and resumes.
            await page.wait_for_selector("#banner:visible", timeout=30_000)
            await page.wait_for_function("() => window.dualrecKiosk.state.callLive", timeout=90_000)
            after = await kiosk_state(page)
            assert (after["sessionId"], after["step"]) == (before["sessionId"], KILLED_AT)
            await page.wait_for_function(
                "() => document.querySelector('#remote-video').videoWidth > 0", timeout=30_000
            )
            await page.screenshot(path=str(artifact("kiosk-resumed-on-survivor.png")))

            steps = await asyncio.wait_for(act_as_customer(page), 180)
            served = await asyncio.wait_for(call, 60)
        finally:
            if not call.done():
                call.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await call
        assert steps[0] == KILLED_AT and "signature" in steps, steps
        assert "Purchase confirmed" in await page.inner_text("#receipt")

    # The same agent waited for the customer and finished the call.
    assert served.session_id == before["sessionId"]
    assert served.ended is not None and served.ended.reason == "completed", served.ended
    assert staff.reconnections == 1
    detail = await db.get_session(before["sessionId"])
    assert (str(detail.session.status), detail.session.recording_parts) == ("ended", 2)
    reports = await verify(cluster, before["sessionId"])
    assert [r["ok"] for r in reports] == [True, True], reports
    # The page's sockets went through nginx: the first to the owner, the one after the kill
    # (perhaps after trying the dead node) to the survivor.
    await balancer.stop()
    sockets = balancer.requests("/ws")
    assert sockets[0].upstreams == [owner.address], sockets
    assert sockets[-1].upstreams[-1] == other.address, sockets
