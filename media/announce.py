"""Announcements: speech the server plays into a call (a risk disclosure read by TTS).

The audio is encoded to Opus once, on a worker thread, then paced out in 20 ms
frames in place of the agent's microphone: the customer hears it and the recording
keeps it on the agent's audio track, where it was heard.
"""

from __future__ import annotations

import fractions

import av
import numpy as np
from numpy.typing import NDArray

from .errors import MediaError

RATE = 48000
FRAME = 960  # 20 ms at 48 kHz


def encode_opus(samples: NDArray[np.int16], sample_rate: int) -> list[bytes]:
    """Mono 16-bit PCM as 20 ms Opus frames at 48 kHz (blocking)."""
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise MediaError("an announcement must be mono 16-bit PCM")
    if not len(samples):
        raise MediaError("an announcement must not be empty")
    source = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    source.sample_rate = sample_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE, frame_size=FRAME)
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = RATE, "mono", "s16"
    encoder.time_base = fractions.Fraction(1, RATE)
    encoder.options = {"application": "voip"}
    packets: list[bytes] = []
    pts = 0
    for frame in [*resampler.resample(source), *resampler.resample(None)]:
        if frame.samples < FRAME:  # pad the last frame to a whole 20 ms
            pad = np.zeros((1, FRAME), np.int16)
            pad[0, : frame.samples] = frame.to_ndarray()[0, : frame.samples]
            frame = av.AudioFrame.from_ndarray(pad, format="s16", layout="mono")
            frame.sample_rate = RATE
        frame.pts, pts = pts, pts + FRAME
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    return packets
