"""The live checks on real VP8 keyframes: a face (the astronaut photograph scikit-image
ships) on a noisy wall, no face, two faces; and the customer's sound from Opus packets
as libopus makes them (3-byte packets of digital silence, larger ones of a tone).
"""

from __future__ import annotations

import fractions
import time

import av
import numpy as np
from aiortc.codecs.opus import OpusEncoder

from bench.constructed import astronaut_face
from media.live_watch import CONFIRM, QUIET_S, FaceCounter, FlagChange, LiveFlag, LiveWatch
from media.tap import EncodedFrame

WIDTH, HEIGHT = 640, 480


def _keyframe(faces: int) -> bytes:
    """One VP8 keyframe of a wall with ``faces`` faces on it."""
    rng = np.random.default_rng(faces)
    wall = np.dstack([np.tile(np.linspace(90, 150, WIDTH), (HEIGHT, 1))] * 3)
    image = (wall + rng.integers(0, 4, (HEIGHT, WIDTH, 3))).astype(np.uint8)
    face = np.asarray(astronaut_face().repeat(2, axis=0).repeat(2, axis=1))  # 238 x 280
    for n in range(faces):
        x = 40 + n * 320
        image[100 : 100 + face.shape[0], x : x + face.shape[1]] = face
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "b": "800k"}
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    packets = [*encoder.encode(frame), *encoder.encode(None)]
    return bytes(packets[0])


def _video(data: bytes) -> EncodedFrame:
    return EncodedFrame("video", data, 0, 0, time.time(), keyframe=True)


def _audio(samples: np.ndarray, encoder: OpusEncoder, at: float) -> EncodedFrame:
    frame = av.AudioFrame.from_ndarray(
        samples.reshape(1, -1).astype(np.int16), format="s16", layout="mono"
    )
    frame.sample_rate, frame.pts, frame.time_base = 48000, 0, fractions.Fraction(1, 48000)
    packets, _ = encoder.encode(frame)
    return EncodedFrame("audio", packets[0], 0, 0, at, keyframe=True)


def test_faces_are_counted_in_keyframes() -> None:
    counter = FaceCounter()
    assert [counter.count(_keyframe(n)) for n in (0, 1, 2)] == [0, 1, 2]
    assert counter.count(b"\x00not vp8") is None
    assert counter.cpu_s > 0


async def test_flags_are_raised_after_confirmation_and_cleared() -> None:
    changes: list[FlagChange] = []
    asked: list[bool] = []
    watch = LiveWatch(changes.append, lambda: asked.append(True))
    pictures = {n: _keyframe(n) for n in (0, 1, 2)}
    encoder = OpusEncoder()
    tone = 3000 * np.sin(np.arange(960) * 2 * np.pi * 440 / 48000)

    async def round_with(faces: int) -> set[LiveFlag]:
        watch.observe(_video(pictures[faces]))
        watch.observe(_audio(tone, encoder, time.time()))
        await watch.check()
        return set(watch.raised)

    assert await round_with(1) == set()
    assert await round_with(0) == set()  # one picture without a face is not an absence
    assert await round_with(0) == {LiveFlag.CUSTOMER_ABSENT}
    assert await round_with(2) == set()
    assert await round_with(2) == {LiveFlag.SECOND_FACE}
    assert await round_with(1) == set()
    assert [(c.flag, c.raised) for c in changes] == [
        (LiveFlag.CUSTOMER_ABSENT, True),
        (LiveFlag.CUSTOMER_ABSENT, False),
        (LiveFlag.SECOND_FACE, True),
        (LiveFlag.SECOND_FACE, False),
    ]
    assert len(asked) == 6 and CONFIRM == 2  # a fresh keyframe asked for after each round

    # The last packet of sound QUIET_S ago, only digital silence since: no sound.
    watch.observe(_audio(tone, encoder, time.time() - QUIET_S))
    fading = [_audio(np.zeros(960), encoder, time.time() - QUIET_S) for _ in range(10)]
    silence = _audio(np.zeros(960), encoder, time.time())
    assert len(fading[0].data) > 8 >= len(silence.data)  # the tone fades out, then 3 bytes
    for packet in [*fading, silence]:
        watch.observe(packet)
    await watch.check()
    assert LiveFlag.CUSTOMER_NO_SOUND in watch.raised
    watch.observe(_audio(tone, encoder, time.time()))
    await watch.check()
    assert LiveFlag.CUSTOMER_NO_SOUND not in watch.raised
