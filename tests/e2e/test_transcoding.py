"""A kiosk that offers only H.264: the relay transcodes for it alone."""

from __future__ import annotations

import asyncio

from agent_console import ScriptedAgent
from kiosk_client import Kiosk, open_source
from media.analysis import closest_look, read_video
from media.verify import verify_recording
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.support import RunningServer


async def test_h264_only_kiosk_is_transcoded_and_recorded(server: RunningServer) -> None:
    kiosk_token = await server.db.add_credential("kiosk", "K264", "BJ-001")
    agent_token = await server.db.add_credential("agent", "A1")
    kiosk = Kiosk(
        server.ws_url,
        kiosk_token,
        open_source("synthetic", KIOSK_LOOK),
        video_codecs=("video/H264",),
    )
    agent = ScriptedAgent(
        server.ws_url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=1.0
    )
    call = asyncio.gather(kiosk.run(), agent.run())
    while not any(s.t0 for s in server.centre.sessions.values()):
        await asyncio.sleep(0.05)
    session = next(iter(server.centre.sessions.values()))
    assert session.relay is not None
    kiosk_link = session.relay.links["kiosk"]
    # The kiosk's link runs H.264; the agent's stays on VP8, passed through untouched.
    kiosk_pc, agent_pc = kiosk_link.pc, session.relay.links["agent"].pc
    kiosk_codecs = {c.mimeType for t in kiosk_pc.getTransceivers() for c in t._codecs}
    agent_codecs = {c.mimeType for t in agent_pc.getTransceivers() for c in t._codecs}
    assert "video/H264" in kiosk_codecs and "video/VP8" not in kiosk_codecs
    assert "video/VP8" in agent_codecs and "video/H264" not in agent_codecs
    kiosk_result, agent_result = await call

    # Each side received the other's pictures.
    assert kiosk_result.received_frames["video"] > 50
    assert agent_result.received_frames["video"] > 50
    # The archive is VP8 for both parties and shows each one's picture.
    folder = server.settings.recordings_dir / session.id
    report = await asyncio.to_thread(verify_recording, folder)
    assert report.ok, report.problems
    assert {t.codec for t in report.tracks if t.kind == "video"} == {"vp8"}
    for party, look in (("kiosk", KIOSK_LOOK), ("agent", AGENT_LOOK)):
        video = await asyncio.to_thread(read_video, sorted(folder.glob(f"{party}-video-*")))
        span = video.times[-1] - video.times[0]
        assert len(video) >= 0.85 * span * 15
        middle = video.mean_yuv(len(video) // 2)
        assert closest_look(middle, [KIOSK_LOOK, AGENT_LOOK]) is look
