"""Tracks the relay sends to a party, fed with the other party's encoded frames."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .counts import DropReason, FrameCounts
from .tap import CLOCK_RATES, EncodedFrame

#: Frames a forwarding track holds for a slow receiver before it drops the oldest.
FORWARD_QUEUE = {"video": 30, "audio": 50}


class QueuedTrack(MediaStreamTrack):
    """A track fed by the relay; when its receiver falls behind the oldest frame goes."""

    def __init__(
        self,
        kind: str,
        on_keyframe_request: Callable[[], None],
        counts: FrameCounts | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        #: The server's frame totals (forwarded, dropped for a slow receiver).
        self.counts = FrameCounts() if counts is None else counts
        self._queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue(FORWARD_QUEUE[kind])
        self.on_keyframe_request = on_keyframe_request
        self.forwarded = 0
        self.dropped = 0
        #: The RTP timestamp of the last frame pushed (announcements continue from it).
        self.last_timestamp = 0

    def push(self, frame: EncodedFrame) -> None:
        """Queue a frame for the party, dropping the oldest if it falls behind."""
        if self.readyState != "live":
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            self.counts.drop(self.kind, DropReason.FORWARD_QUEUE)
            # The receiver's decoder now misses a frame: start again from a keyframe.
            self.on_keyframe_request()
        self.last_timestamp = frame.timestamp
        self._queue.put_nowait(frame)

    async def next_frame(self) -> EncodedFrame:
        """The next queued frame; MediaStreamError once the track has stopped."""
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        """End the track; the sender's loop ends with it."""
        if self.readyState == "live":
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
        super().stop()


class ForwardTrack(QueuedTrack):
    """Sends another party's encoded frames as they are (aiortc packs ``av.Packet``)."""

    def __init__(
        self,
        kind: str,
        on_keyframe_request: Callable[[], None],
        counts: FrameCounts | None = None,
    ) -> None:
        super().__init__(kind, on_keyframe_request, counts)
        self._time_base = fractions.Fraction(1, CLOCK_RATES[kind])

    async def recv(self) -> av.Packet[Any]:
        """The next packet to send."""
        frame = await self.next_frame()
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = self._time_base
        self.forwarded += 1
        self.counts.forwarded[self.kind] += 1
        return packet
