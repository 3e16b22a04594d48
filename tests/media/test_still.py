"""Stills decoded from the kept group of pictures show the newest picture."""

from __future__ import annotations

import fractions

import av
import cv2
import numpy as np
import pytest

from media import MediaError
from media.still import MAX_GROUP, PictureGroup, decode_still
from media.tap import EncodedFrame, is_vp8_keyframe


def vp8_frames(levels: list[int]) -> list[EncodedFrame]:
    """One encoded VP8 frame per grey level, the first a keyframe."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.options = {"deadline": "realtime", "lag-in-frames": "0"}
    frames = []
    for i, level in enumerate(levels):
        planes = np.full((180, 160), 128, np.uint8)
        planes[:120] = level
        picture = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        picture.pts = i
        for packet in encoder.encode(picture):
            data = bytes(packet)
            frames.append(
                EncodedFrame("video", data, i * 6000, i * 6000, 0.0, is_vp8_keyframe(data))
            )
    return frames


def test_the_still_is_the_newest_picture() -> None:
    group = PictureGroup()
    for frame in vp8_frames([40, 80, 120, 200]):
        assert group.add(frame)
    still = decode_still(group.snapshot())
    assert (still.width, still.height) == (160, 120)
    image = cv2.imdecode(np.frombuffer(still.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    assert abs(float(image.mean()) - 200 * 255 / 219 + 16 * 255 / 219) < 15


def test_frames_before_the_first_keyframe_are_not_kept() -> None:
    group = PictureGroup()
    keyframe, *others = vp8_frames([50, 60, 70])
    for frame in others:
        group.add(frame)
    assert group.snapshot() == []
    with pytest.raises(MediaError, match="no picture yet"):
        decode_still(group.snapshot())
    group.add(keyframe)
    assert len(group.snapshot()) == 1


def test_a_full_group_asks_for_a_keyframe() -> None:
    keyframe, delta = vp8_frames([50, 60])
    group = PictureGroup()
    group.add(keyframe)
    for _ in range(MAX_GROUP - 1):
        assert group.add(delta)
    assert not group.add(delta)


def test_damaged_vp8_headers_are_recognised() -> None:
    from media.tap import vp8_frame_ok

    keyframe, delta = vp8_frames([50, 60])
    assert vp8_frame_ok(keyframe.data) and vp8_frame_ok(delta.data)
    # A frame that lost its first packets: its "header" is payload from the middle.
    assert not vp8_frame_ok(keyframe.data[len(keyframe.data) // 2 :])
    assert not vp8_frame_ok(keyframe.data[:2])
    assert not vp8_frame_ok(b"\xff\xff\xff" + delta.data[3:])
