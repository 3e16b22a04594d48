"""An announcement (the TTS risk disclosure) is heard by the kiosk and recorded."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from agent_console import ScriptedAgent
from kiosk_client import Kiosk, open_source
from media.analysis import dominant_frequency, read_audio
from media.verify import verify_recording
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.support import RunningServer

TONE_HZ = 1500.0


async def test_announcement_replaces_the_agent_microphone(server: RunningServer) -> None:
    kiosk_token = await server.db.add_credential("kiosk", "K1", "BJ-001")
    agent_token = await server.db.add_credential("agent", "A1")
    kiosk = Kiosk(server.ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK))
    agent = ScriptedAgent(
        server.ws_url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=1.5
    )
    call = asyncio.gather(kiosk.run(), agent.run())
    while not any(s.t0 for s in server.centre.sessions.values()):
        await asyncio.sleep(0.05)
    session = next(s for s in server.centre.sessions.values() if s.t0)
    assert session.relay is not None and session.t0 is not None
    await asyncio.sleep(1.0)
    t = np.arange(int(1.5 * 16000)) / 16000
    speech = (np.sin(2 * np.pi * TONE_HZ * t) * 12000).astype(np.int16)
    start_s = time.time() - session.t0
    duration = await session.relay.play_announcement(speech, 16000)
    assert abs(duration - 1.5) < 0.05
    await call

    folder = server.settings.recordings_dir / session.id
    report = await asyncio.to_thread(verify_recording, folder)
    assert report.ok, report.problems
    audio = await asyncio.to_thread(read_audio, sorted(folder.glob("agent-audio-*")))
    during = audio.between(start_s + 0.3, start_s + 1.2)
    after = audio.between(start_s + 2.0, start_s + 2.8)
    assert abs(dominant_frequency(during, audio.sample_rate) - TONE_HZ) < 15
    assert abs(dominant_frequency(after, audio.sample_rate) - AGENT_LOOK.tone_hz) < 15
