"""The picture itself: black, frozen or covered video, and video missing from a step.

Plain measures on the sampled grey pictures, no model: a black picture is dark and
flat, a covered lens is flat (a hand or a cap leaves no detail), a frozen one does not
change from one picture to the next while a live camera always moves a little.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .recording import Pictures
from .spans import longer_than, runs, within
from .verdicts import Check, Model, Span, Verdict

MODEL = Model("dualrec-picture-rules", "1")


@dataclass(frozen=True)
class PictureLimits:
    """What counts as a bad picture, and how much of it a step may have."""

    black_mean: float = 20.0
    flat_std: float = 6.0
    #: Mean absolute change (grey levels) between pictures below which video is frozen.
    frozen_change: float = 0.3
    #: Bad runs shorter than this are not reported.
    min_ms: int = 2000
    #: A step with at least this share of bad picture fails.
    fail_share: float = 0.25


def picture_faults(pictures: Pictures, limits: PictureLimits) -> dict[str, NDArray[np.bool_]]:
    """Per sampled picture: is it black, covered (flat, not black), frozen."""
    if not len(pictures):
        empty = np.zeros(0, dtype=bool)
        return {"black": empty, "covered": empty, "frozen": empty}
    means = np.array([float(f.mean()) for f in pictures.frames])
    stds = np.array([float(f.std()) for f in pictures.frames])
    detail = np.array([float(cv2.Laplacian(f, cv2.CV_64F).var()) for f in pictures.frames])
    black = (means < limits.black_mean) & (stds < limits.flat_std * 2)
    covered = ~black & (stds < limits.flat_std) & (detail < 10.0)
    change = [np.inf] + [
        float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
        for a, b in zip(pictures.frames, pictures.frames[1:], strict=False)
    ]
    frozen = (np.array(change) < limits.frozen_change) & ~black & ~covered
    return {"black": black, "covered": covered, "frozen": frozen}


def picture_check(
    party: str,
    pictures: Pictures,
    faults: dict[str, NDArray[np.bool_]],
    start_ms: int,
    end_ms: int,
    limits: PictureLimits,
) -> Check:
    """A party's picture in one step: black, covered, frozen or missing ranges."""
    name = f"{party}_picture"
    selected = within(pictures.times_ms, start_ms, end_ms)
    step_ms = max(1, end_ms - start_ms)
    times = pictures.times_ms[selected]
    found: list[tuple[str, Span]] = []
    for fault, mask in faults.items():
        for span in longer_than(runs(mask[selected], times, pictures.interval_ms), limits.min_ms):
            found.append((fault, span))
    # No picture at all for a while: the camera stopped or the video was lost.
    edges = [start_ms, *times.tolist(), end_ms]
    for a, b in itertools.pairwise(edges):
        if b - a >= limits.min_ms + pictures.interval_ms:
            found.append(("missing", Span(int(a), int(b))))
    if not found:
        return Check(name, Verdict.PASS, 1.0, MODEL, f"the {party}'s picture is live")
    bad_ms = sum(span.length_ms for _, span in found)
    share = min(1.0, bad_ms / step_ms)
    verdict = Verdict.FAIL if share >= limits.fail_share else Verdict.NEEDS_REVIEW
    kinds = sorted({fault for fault, _ in found})
    return Check(
        name,
        verdict,
        1.0 - share,
        MODEL,
        f"the {party}'s picture is {' / '.join(kinds)} for {bad_ms / 1000:.1f} s",
        tuple(sorted((span for _, span in found), key=lambda s: s.start_ms)),
        {"bad_share": share},
    )
