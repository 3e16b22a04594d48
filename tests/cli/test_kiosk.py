"""``dualrec kiosk`` from the command line, with a media file as its camera and microphone."""

from __future__ import annotations

import asyncio
import fractions
import json
import sys
from pathlib import Path

import av
import numpy as np

from agent_console import ScriptedAgent
from kiosk_client import SourceError, open_source
from media.analysis import closest_look, dominant_frequency, read_audio, read_video
from synthetic import AGENT_LOOK, KIOSK_LOOK, PartyLook
from tests.support import RunningServer

#: The file's look: green picture, 550 Hz tone, unlike either demo party.
FILE_LOOK = PartyLook(label="FILE", colour=(40, 180, 60), tone_hz=550.0)


def write_media_file(path: Path, seconds: float = 4.0) -> None:
    """A small WebM with a solid picture and a tone, the kiosk's stand-in for a camera."""
    from common import rgb_to_yuv

    y, u, v = (round(c) for c in rgb_to_yuv(FILE_LOOK.colour))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libvpx", rate=15)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        planes = np.concatenate(
            [np.full((240, 320), y), np.full((60, 320), u), np.full((60, 320), v)]
        ).astype(np.uint8)
        for i in range(int(seconds * 15)):
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts, frame.time_base = i, fractions.Fraction(1, 15)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        t = np.arange(int(seconds * 48000)) / 48000
        tone = (np.sin(2 * np.pi * FILE_LOOK.tone_hz * t) * 8000).astype(np.int16)
        for start in range(0, len(tone), 960):
            chunk = tone[start : start + 960].reshape(1, -1)
            sound = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            sound.sample_rate, sound.pts = 48000, start
            out.mux(audio.encode(sound))
        out.mux(audio.encode())


def test_a_source_without_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "voice.ogg"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libopus", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 960), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 48000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    try:
        open_source(str(path), KIOSK_LOOK)
    except SourceError as exc:
        assert "both audio and video" in str(exc)
    else:
        raise AssertionError("a file without video was accepted")


async def test_kiosk_command_with_a_file_source(server: RunningServer, tmp_path: Path) -> None:
    media_file = tmp_path / "camera.webm"
    write_media_file(media_file)
    kiosk_token = await server.db.add_credential("kiosk", "GZ-009-K2", "GZ-009")
    agent_token = await server.db.add_credential("agent", "agent-file")
    kiosk = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dualrec",
        "kiosk",
        "--server",
        server.url,
        "--token",
        kiosk_token,
        "--source",
        str(media_file),
        "--language",
        "en",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,  # not the checkout, whose ./var a demo may have left
    )
    agent = ScriptedAgent(
        server.ws_url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=1.0
    )
    result, (stdout, stderr) = await asyncio.gather(agent.run(), kiosk.communicate())
    assert kiosk.returncode == 0, stderr.decode()
    summary = json.loads(stdout)
    assert summary["session_id"] == result.session_id
    assert summary["steps"][-1] == "completed"
    assert summary["ended"]["by"] == "agent"
    assert "position 1 of 1" in stderr.decode()

    # The recording shows the file's picture and tone for the kiosk.
    assert result.session_id is not None
    folder = server.settings.recordings_dir / result.session_id
    video = await asyncio.to_thread(read_video, sorted(folder.glob("kiosk-video-*")))
    audio = await asyncio.to_thread(read_audio, sorted(folder.glob("kiosk-audio-*")))
    assert (video.width, video.height) == (320, 240)
    looks = [FILE_LOOK, KIOSK_LOOK, AGENT_LOOK]
    assert closest_look(video.mean_yuv(len(video) // 2), looks) is FILE_LOOK
    middle = audio.samples[len(audio.samples) // 2 :][:24000]
    assert abs(dominant_frequency(middle, audio.sample_rate) - FILE_LOOK.tone_hz) < 10
