"""The frame totals the relay keeps for the metrics: counted where frames are dropped."""

from __future__ import annotations

import time

from media import EncodedFrame, ForwardTrack
from media.counts import DropReason, FrameCounts
from media.forward import FORWARD_QUEUE


def frame(kind: str, n: int) -> EncodedFrame:
    """A frame of ``kind`` with timestamp ``n``."""
    return EncodedFrame(kind, b"\x00" * 10, n, n, time.time(), True)


async def test_a_slow_receiver_s_dropped_frames_are_counted_by_kind() -> None:
    counts = FrameCounts()
    asked: list[int] = []
    video = ForwardTrack("video", lambda: asked.append(1), counts)
    audio = ForwardTrack("audio", lambda: None, counts)
    extra = 3
    for n in range(FORWARD_QUEUE["video"] + extra):
        video.push(frame("video", n))
    for n in range(FORWARD_QUEUE["audio"]):
        audio.push(frame("audio", n))  # fills the queue exactly: nothing dropped
    assert counts.dropped == {("video", DropReason.FORWARD_QUEUE): extra}
    assert len(asked) == extra  # each drop also asks the sender for a keyframe
    await video.recv()
    await audio.recv()
    assert counts.forwarded == {"audio": 1, "video": 1}
    video.stop()
    audio.stop()


def test_totals_start_at_zero_for_both_kinds() -> None:
    counts = FrameCounts()
    assert counts.received == counts.forwarded == counts.recorded == {"audio": 0, "video": 0}
    counts.drop("audio", DropReason.ANNOUNCEMENT)
    counts.drop("audio", DropReason.ANNOUNCEMENT)
    assert counts.dropped[("audio", DropReason.ANNOUNCEMENT)] == 2
