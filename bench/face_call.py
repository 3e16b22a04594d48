"""A real call recorded with faces in both pictures, to measure inspection on (no camera here).

    python -m bench.face_call DATA_DIR [--seconds-per-step S]

Writes a looping video file of a face (the astronaut photograph scikit-image ships, public
domain) swaying on a noisy wall, with espeak-ng speaking, and has a kiosk and the scripted
agent call the server with it as their camera and microphone (aiortc's ``MediaPlayer``):
the part is recorded, signed, composed and inspected as any call. Prints the part's folder.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import importlib.resources
import io
import subprocess
import wave
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from agent_console import ScriptedAgent
from common import Role
from dualrec.app import CENTRE, DATABASE
from dualrec.demo import demo_credentials, start_server
from dualrec.settings import Settings
from kiosk_client import Kiosk, open_source
from synthetic import AGENT_LOOK, KIOSK_LOOK

WIDTH, HEIGHT, FPS, RATE = 640, 480, 15, 48000
#: Longer than the call, so that the player never loops.
CLIP_S = 120
SPEECH = "I have read and understood the terms, and I confirm that I want to open the account."


def _face() -> NDArray[np.uint8]:
    source = importlib.resources.files("skimage") / "data" / "astronaut.png"
    image = cv2.imread(str(source))
    if image is None:
        raise SystemExit("scikit-image's astronaut.png is missing")
    resized: NDArray[np.uint8] = cv2.resize(image[20:220, 140:310], (204, 240)).astype(np.uint8)
    return resized


def _speech() -> NDArray[np.int16]:
    command = ["espeak-ng", "-v", "en", "--stdout", SPEECH]
    done = subprocess.run(command, capture_output=True, check=True)
    with wave.open(io.BytesIO(done.stdout)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        rate = wav.getframerate()
    at = np.arange(0, len(samples) * RATE // rate) * rate / RATE
    speech: NDArray[np.int16] = np.interp(at, np.arange(len(samples)), samples).astype(np.int16)
    return speech


def write_clip(path: Path) -> Path:
    """The face clip: VP8 video and Opus sound in WebM, ``CLIP_S`` seconds (made once)."""
    if path.is_file() and path.stat().st_size > 0:
        return path
    rng = np.random.default_rng(7)
    face = _face()
    wall = np.dstack([np.tile(np.linspace(90, 150, WIDTH), (HEIGHT, 1))] * 3).astype(np.uint8)
    speech = _speech()
    sound = np.zeros(CLIP_S * RATE, dtype=np.int16)
    for start in range(0, len(sound) - len(speech), len(speech) + RATE):
        sound[start : start + len(speech)] = speech
    chunk = RATE // 50  # 20 ms of sound
    per_picture = RATE // FPS
    partial = path.with_suffix(".partial.webm")
    with av.open(str(partial), "w", format="webm") as out:
        video = out.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"deadline": "realtime", "cpu-used": "8", "b": "800k"}
        audio = out.add_stream("libopus", rate=RATE)
        audio.layout = "mono"
        heard = 0
        # Interleaved by time: a player reads the file in order and paces it in real time.
        for n in range(CLIP_S * FPS):
            image = (wall + rng.integers(0, 4, wall.shape, dtype=np.uint8)).astype(np.uint8)
            sway = int(20 * np.sin(n / 10))
            image[120:360, 218 + sway : 422 + sway] = face
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts, picture.time_base = n, fractions.Fraction(1, FPS)
            for packet in video.encode(picture):
                out.mux(packet)
            while heard < (n + 1) * per_picture:
                frame = av.AudioFrame.from_ndarray(
                    sound[heard : heard + chunk].reshape(1, -1), format="s16", layout="mono"
                )
                frame.sample_rate, frame.pts = RATE, heard
                for packet in audio.encode(frame):
                    out.mux(packet)
                heard += chunk
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)
    partial.rename(path)
    return path


async def call(data_dir: Path, step_s: float) -> Path:
    """One card-opening call with the face clip at both ends; the part's folder."""
    clip = write_clip(data_dir.parent / "face-clip.webm")
    settings = Settings(data_dir=data_dir)
    runner, url = await start_server(settings)
    try:
        tokens = await demo_credentials(runner.app[DATABASE])
        ws_url = url.replace("http", "ws", 1) + "/ws"
        kiosk = Kiosk(ws_url, tokens[Role.KIOSK], open_source(str(clip), KIOSK_LOOK))
        tracks = open_source(str(clip), AGENT_LOOK)
        agent = ScriptedAgent(ws_url, tokens[Role.AGENT], tracks, step_s=step_s)
        _, done = await asyncio.gather(kiosk.run(), agent.run())
        assert done.session_id is not None
        job = runner.app[CENTRE].composite_jobs.get(done.session_id)
        if job is not None:
            await job  # the composite, then the inspection
        return settings.recordings_dir / done.session_id
    finally:
        await runner.cleanup()


def main() -> None:
    """Record the call and print its folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seconds-per-step", type=float, default=10.0)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    print(asyncio.run(call(args.data_dir, args.seconds_per_step)))


if __name__ == "__main__":
    main()
