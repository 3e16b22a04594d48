"""Transcoding, only for a party that shares no video codec with the relay (no VP8).

The archive and the forwarding run on VP8. A party whose offer has no VP8 (an
H.264-only device) is decoded by aiortc as usual; its pictures are encoded to VP8
once, with aiortc's real-time settings, and from there on handled like everyone
else's frames. Towards that party, the other party's VP8 is decoded and handed to
aiortc's sender, which encodes it in the party's codec and honours its keyframe
requests itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .counts import FrameCounts
from .forward import QueuedTrack
from .tap import EncodedFrame, ReceiverTap, is_vp8_keyframe

logger = logging.getLogger(__name__)

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


class Vp8Reencoder:
    """Encodes a party's decoded pictures to VP8 frames for the relay."""

    def __init__(self, tap: ReceiverTap, on_frame: Callable[[EncodedFrame], None]) -> None:
        self._tap = tap
        self._on_frame = on_frame
        self._encoder: av.VideoCodecContext | None = None
        self._force_keyframe = True
        self.frames = 0
        tap.transcoder = self

    def request_keyframe(self) -> None:
        """Make the next encoded frame a keyframe."""
        self._force_keyframe = True

    async def run(self, track: MediaStreamTrack) -> None:
        """Read the decoded pictures until the track ends."""
        with contextlib.suppress(MediaStreamError):
            while True:
                picture = await track.recv()
                # Read before encoding, which clears the picture's pts.
                timestamp, arrival = int(picture.pts or 0), time.time()
                force, self._force_keyframe = self._force_keyframe, False
                data = await asyncio.to_thread(self._encode, picture, force)
                if not data:
                    continue
                self.frames += 1
                self._tap.frames += 1
                self._on_frame(
                    EncodedFrame(
                        "video",
                        data,
                        timestamp,
                        self._tap.rtp_timestamp(timestamp),
                        arrival,
                        is_vp8_keyframe(data),
                    )
                )

    def _encode(self, picture: Any, force: bool) -> bytes:
        codec = self._encoder
        if codec is None or (codec.width, codec.height) != (picture.width, picture.height):
            codec = self._encoder = _vp8_encoder(picture.width, picture.height)
            force = True
        if picture.format.name != "yuv420p":
            picture = picture.reformat(format="yuv420p")
        picture.pict_type = (
            av.video.frame.PictureType.I if force else av.video.frame.PictureType.NONE
        )
        picture.pts = None
        return b"".join(bytes(p) for p in codec.encode(picture))


def _vp8_encoder(width: int, height: int) -> av.VideoCodecContext:
    """A libvpx encoder with aiortc's real-time settings."""
    reference = Vp8Encoder()
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = reference.target_bitrate
    codec.time_base = fractions.Fraction(1, 90000)
    codec.gop_size = 3000
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "-6",
        "lag-in-frames": "0",
        "partitions": "0",
        "static-thresh": "1",
    }
    return codec


class DecodingForwardTrack(QueuedTrack):
    """Sends another party's VP8 as pictures, for a sender in another codec."""

    def __init__(
        self, on_keyframe_request: Callable[[], None], counts: FrameCounts | None = None
    ) -> None:
        super().__init__("video", on_keyframe_request, counts)
        self._decoder = av.CodecContext.create("libvpx", "r")

    async def recv(self) -> av.VideoFrame:
        """The next decoded picture."""
        while True:
            frame = await self.next_frame()
            pictures = await asyncio.to_thread(self._decode, frame.data)
            if pictures:
                picture = pictures[-1]
                picture.pts, picture.time_base = frame.timestamp, VIDEO_TIME_BASE
                self.forwarded += 1
                self.counts.forwarded["video"] += 1
                return picture

    def _decode(self, data: bytes) -> list[av.VideoFrame]:
        try:
            return list(self._decoder.decode(av.Packet(data)))
        except av.FFmpegError:
            self.on_keyframe_request()
            return []
