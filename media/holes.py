"""Where a recorded track's frames are missing: its holes, each with its length.

A recording keeps each frame at the time it was sent (media.timeline), so a frame lost
on the network leaves a hole in the track's timestamps exactly as long as the frame.
An Opus frame says how long it is (RFC 6716, section 3.1), so an audio hole is the
time between the end of one frame and the start of the next: a lost 20 ms packet is a
20 ms hole. A video frame does not, so a video hole is a pause longer than one and a
half of the track's usual frame interval, less that interval: one lost frame of a
15 fps camera is a 67 ms hole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import median

#: Opus frame durations (ms) by TOC configuration, four per mode (RFC 6716, table 2).
_SILK_MS = (10.0, 20.0, 40.0, 60.0)
_HYBRID_MS = (10.0, 20.0)
_CELT_MS = (2.5, 5.0, 10.0, 20.0)
#: A pause this many frame intervals long holds a missing video frame.
VIDEO_HOLE_INTERVALS = 1.5


def opus_duration(packet: bytes) -> float | None:
    """How long an Opus packet plays (seconds), from its TOC byte; None if malformed."""
    if not packet:
        return None
    toc = packet[0]
    config = toc >> 3
    if config < 12:
        frame_ms = _SILK_MS[config % 4]
    elif config < 16:
        frame_ms = _HYBRID_MS[config % 2]
    else:
        frame_ms = _CELT_MS[config % 4]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    elif len(packet) >= 2:
        count = packet[1] & 0x3F
    else:
        return None
    return frame_ms * count / 1000


@dataclass(frozen=True)
class Hole:
    """Time a track has no frame for: where it starts and how long it is (seconds)."""

    at: float
    length: float


def audio_holes(times: Sequence[float], durations: Sequence[float]) -> list[Hole]:
    """The holes between audio frames that start at ``times`` and last ``durations``.

    A hole shorter than half the frame before it is the timeline's rounding, not a
    missing frame.
    """
    holes: list[Hole] = []
    for i in range(1, len(times)):
        end = times[i - 1] + durations[i - 1]
        length = times[i] - end
        if durations[i - 1] and length > durations[i - 1] / 2:
            holes.append(Hole(round(end, 3), round(length, 3)))
    return holes


def frame_interval(times: Sequence[float]) -> float:
    """The track's usual time from one frame to the next (the median), 0 if unknown."""
    steps = [b - a for a, b in pairwise(times) if b > a]
    return median(steps) if steps else 0.0


def video_holes(times: Sequence[float]) -> list[Hole]:
    """The holes of a video track whose frames start at ``times``."""
    interval = frame_interval(times)
    holes: list[Hole] = []
    if not interval:
        return holes
    for a, b in pairwise(times):
        if b - a > VIDEO_HOLE_INTERVALS * interval:
            holes.append(Hole(round(a + interval, 3), round(b - a - interval, 3)))
    return holes
