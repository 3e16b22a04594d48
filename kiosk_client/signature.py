"""A synthetic handwritten signature, drawn as the kiosk's signature pad would capture it."""

from __future__ import annotations

import base64
import random

import cv2
import numpy as np


def draw_signature(seed: str = "", size: tuple[int, int] = (600, 200)) -> bytes:
    """A PNG of a cursive-looking scrawl: one looping stroke with a flourish underneath."""
    rng = random.Random(seed)
    width, height = size
    canvas = np.full((height, width), 255, np.uint8)
    # A pen moving right while it loops up and down: a sum of a few sines, like cursive.
    t = np.linspace(0.0, 1.0, 400)
    x = 40 + t * (width - 120) + 12 * np.sin(2 * np.pi * t * rng.uniform(5, 8))
    y = height * 0.45 + sum(
        rng.uniform(10, 30) * np.sin(2 * np.pi * t * rng.uniform(3, 11) + rng.uniform(0, 6))
        for _ in range(3)
    )
    stroke = np.stack([x, y], axis=1).round().astype(np.int32)
    cv2.polylines(canvas, [stroke], False, 20, thickness=3, lineType=cv2.LINE_AA)
    # The flourish: a shallow arc under the name.
    u = np.linspace(0.0, 1.0, 80)
    flourish = np.stack([60 + u * (width - 140), height * 0.78 - 14 * np.sin(np.pi * u)], axis=1)
    cv2.polylines(canvas, [flourish.round().astype(np.int32)], False, 30, 2, cv2.LINE_AA)
    ok, encoded = cv2.imencode(".png", canvas)
    if not ok:
        raise RuntimeError("the signature could not be encoded as PNG")
    return encoded.tobytes()


def png_data_url(png: bytes) -> str:
    """A PNG as a data URL, the form a browser's signature pad produces."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
