"""Colours as the video codecs see them: RGB to BT.601 limited-range Y, U, V."""

from __future__ import annotations


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """Convert an RGB colour to BT.601 limited-range Y, U, V (as libvpx and libyuv use)."""
    r, g, b = (c / 255.0 for c in rgb)
    y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b
    return y, u, v
