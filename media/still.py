"""Stills from a party's video, for evidence (an ID photo taken from the call).

The relay never decodes, so it keeps the encoded frames since the last keyframe (the
current group of pictures); a still decodes that group on a worker thread and
returns the newest picture as JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2

from .errors import MediaError
from .tap import EncodedFrame

#: Frames kept at most; past this a keyframe is requested and the group starts over.
MAX_GROUP = 600


@dataclass(frozen=True)
class Still:
    """A JPEG picture taken from a party's video."""

    jpeg: bytes
    width: int
    height: int


class PictureGroup:
    """The encoded video frames since the last keyframe (event loop side)."""

    def __init__(self) -> None:
        self.frames: list[EncodedFrame] = []

    def add(self, frame: EncodedFrame) -> bool:
        """Keep ``frame``; returns False when the group is full (ask for a keyframe)."""
        if frame.keyframe:
            self.frames = [frame]
        elif self.frames:
            if len(self.frames) >= MAX_GROUP:
                return False
            self.frames.append(frame)
        return True

    def snapshot(self) -> list[EncodedFrame]:
        """The frames to decode for the newest picture."""
        return list(self.frames)


def decode_still(frames: list[EncodedFrame], quality: int = 90) -> Still:
    """Decode a group of VP8 frames and return its last picture as JPEG (blocking)."""
    if not frames:
        raise MediaError("no picture yet: the party's video has not started")
    decoder = av.CodecContext.create("libvpx", "r")
    picture = None
    try:
        for frame in frames:
            for decoded in decoder.decode(av.Packet(frame.data)):
                picture = decoded
        for decoded in decoder.decode(None):
            picture = decoded
    except av.FFmpegError as exc:
        raise MediaError(f"the video could not be decoded for a still: {exc}") from exc
    if picture is None:
        raise MediaError("the video gave no picture for a still")
    image = picture.to_ndarray(format="bgr24")
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise MediaError("the still could not be encoded as JPEG")
    return Still(encoded.tobytes(), picture.width, picture.height)
