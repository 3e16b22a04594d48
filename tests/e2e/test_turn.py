"""Calls whose media can reach the server only through a real TURN server (coturn).

The server is configured with one coturn (``use-auth-secret``) and
``ice_transport_policy = "relay"``: every kiosk and agent is told in ``joined`` to gather
relayed candidates only, with TURN credentials of its own, so its media has no path to
the server's relay but through coturn. The relay uses the same coturn with its own
credentials. coturn's log shows each party's allocation and the bytes it relayed; the
recording holds the kiosk's frames and verifies.

- an aiortc kiosk and scripted agent (``tests.support.run_session``);
- the kiosk's page in headless Chromium (its peer connection made with the policy and
  servers of ``joined``), with a scripted agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from dualrec.demo import start_server
from dualrec.settings import Settings
from media.verify import verify_recording
from signaling import PushDocument
from tests.browser import chromium_with_media
from tests.e2e.test_flows import finished
from tests.e2e.test_kiosk_browser import (
    act_as_customer,
    agent_at_work,
    choose,
    enrol,
    kiosk_video_is_real,
)
from tests.support import RunningServer, run_session
from tests.turn import Coturn, Usage, coturn

#: Media relayed for a party during a call of some seconds: far above what ICE checks
#: alone would make (a few kilobytes).
MEDIA_BYTES = 100_000

#: The page's selected ICE candidate pair: the types of its two ends and the bytes sent.
SELECTED_PAIR = """async () => {
  const stats = await window.dualrecKiosk.pc.getStats();
  for (const report of stats.values()) {
    if (report.type !== "transport" || !report.selectedCandidatePairId) continue;
    const pair = stats.get(report.selectedCandidatePairId);
    return {
      local: stats.get(pair.localCandidateId).candidateType,
      remote: stats.get(pair.remoteCandidateId).candidateType,
      bytesSent: pair.bytesSent,
    };
  }
  return null;
}"""


@asynccontextmanager
async def server_behind_turn(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, Coturn]]:
    """coturn, and a server whose parties must send their media through it."""
    async with coturn(tmp_path / "coturn") as turn:
        settings = Settings(
            data_dir=tmp_path / "var",
            segment_s=3.0,
            tts_speed_wpm=900,
            turn_urls=(turn.url,),
            turn_secret=turn.secret,
            ice_transport_policy="relay",
        )
        runner, url = await start_server(settings)
        try:
            yield RunningServer(runner, url, settings), turn
        finally:
            await runner.cleanup()


async def relayed(turn: Coturn, role: str) -> tuple[Usage, Usage]:
    """The TURN session of ``role``'s user that carried media: its client and peer sides.

    coturn logs a session's totals once its allocation is released, shortly after the
    party closes its peer connection.
    """
    for _ in range(120):
        sides = [u for u in turn.usage() if u.user.startswith(f"{role}-")]
        client = [u for u in sides if not u.peer and u.received_bytes > MEDIA_BYTES]
        peer = [u for u in sides if u.peer and u.sent_bytes > MEDIA_BYTES]
        if client and peer:
            return client[0], peer[0]
        await asyncio.sleep(0.5)
    pytest.fail(f"coturn relayed no media for the {role}:\n{turn.text()[-4000:]}")


def recorded_kiosk_frames(server: RunningServer, folder: Path) -> dict[str, int]:
    """Verify the recording; the kiosk's frames in it, by kind."""
    report = verify_recording(folder, server.centre.signing_key.public_key())
    assert report.ok, report.problems
    return {t.kind: t.frames for t in report.tracks if t.party == "kiosk"}


async def test_aiortc_parties_reach_the_relay_only_through_coturn(tmp_path: Path) -> None:
    async with server_behind_turn(tmp_path) as (server, turn):
        session_id = await run_session(server)
        _, folder = await finished(server, session_id)
        frames = await asyncio.to_thread(recorded_kiosk_frames, server, folder)
        kiosk, kiosk_peer = await relayed(turn, "kiosk")
        agent, _ = await relayed(turn, "agent")

    assert frames["video"] > 50 and frames["audio"] > 200
    # The kiosk's media went to coturn and on from coturn's relay to the server's.
    assert kiosk.received_bytes > MEDIA_BYTES and kiosk_peer.sent_bytes > MEDIA_BYTES
    assert agent.received_bytes > MEDIA_BYTES
    # The server's relay allocated on the configured TURN server with its own credentials.
    assert any(u.user == f"relay-{session_id}" for u in turn.usage()), turn.text()[-4000:]
    # Each allocation was made with a user of its own: a role and an opaque id.
    users = {u.user for u in turn.usage()}
    assert not any("BJ-001" in user or "agent-1" in user for user in users), users


async def test_a_browser_kiosk_reaches_the_relay_only_through_coturn(tmp_path: Path) -> None:
    async with server_behind_turn(tmp_path) as (server, turn):
        agent_token = await server.db.add_credential("agent", "agent-wang")
        async with chromium_with_media() as browser:
            page = await enrol(browser, server)
            await choose(page, "wealth_purchase")
            async with agent_at_work(server, agent_token) as (agent, task):
                await asyncio.wait_for(act_as_customer(page, pause_at="risk_disclosure"), 120)
                pair: dict[str, Any] | None = await page.evaluate(SELECTED_PAIR)
                # The agent shows the document the step needs; the customer reads it.
                await agent.client.send(PushDocument(document_id="risk_disclosure_statement"))
                await page.wait_for_selector("#document-view:visible")
                await page.click("#document-read")
                await page.wait_for_selector("#ack-risk_disclosure_statement.done")
                await asyncio.wait_for(act_as_customer(page), timeout=120)
                result = await asyncio.wait_for(task, timeout=30)
            assert result.session_id is not None and result.ended is not None
            _, folder = await finished(server, result.session_id)
            frames = await asyncio.to_thread(recorded_kiosk_frames, server, folder)
            real = await asyncio.to_thread(kiosk_video_is_real, folder)
            kiosk, kiosk_peer = await relayed(turn, "kiosk")

    # The page's peer connection sent its media from a relayed candidate: through coturn.
    assert pair is not None and pair["local"] == "relay", pair
    assert pair["bytesSent"] > MEDIA_BYTES
    assert kiosk.received_bytes > MEDIA_BYTES and kiosk_peer.sent_bytes > MEDIA_BYTES
    # The recording holds the page's camera (Chromium's test pattern), not a flat colour:
    # seconds of it (how many frames depends on how busy the machine is: not counted).
    assert frames["video"] > 30 and real > 0.9 * frames["video"]
