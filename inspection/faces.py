"""Faces in the picture: the customer's and the agent's, a second face, leaving the picture.

Faces are found by OpenCV's frontal-face Haar cascade, shipped in ``cv2.data`` with the
``opencv-python-headless`` wheel (nothing downloaded). The checks read a step's sampled
pictures: the share in which the party's face is seen, the ranges in which it is not
(the customer leaving the picture), and the ranges with more than one face.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from .recording import Pictures
from .spans import longer_than, runs, within
from .verdicts import Check, Model, Verdict, judge

CASCADE = "haarcascade_frontalface_default.xml"
MODEL = Model(f"opencv-haar-{Path(CASCADE).stem}", cv2.__version__)


@dataclass(frozen=True)
class FaceLimits:
    """When a face check passes, needs review or fails."""

    #: Share of a step's pictures the face must be in: below ``fail``, a fail; below
    #: ``review``, needs review. Key steps (a disclosure, a confirmation) use ``key_*``.
    fail: float = 0.5
    review: float = 0.8
    key_fail: float = 0.8
    key_review: float = 0.95
    #: An absence at least this long is reported as leaving the picture.
    absence_ms: int = 1500
    #: A second face seen at least this long fails; shorter ones need review.
    extra_fail_ms: int = 3000
    #: A second face seen in fewer consecutive pictures than this is ignored as noise.
    extra_min_samples: int = 2


class FaceDetector:
    """OpenCV's bundled Haar cascade for frontal faces."""

    model = MODEL

    def __init__(self) -> None:
        path = Path(cv2.data.haarcascades) / CASCADE  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade is missing at {path}")

    def count(self, grey: NDArray[np.uint8]) -> int:
        """How many faces a small grey picture shows."""
        side = max(24, grey.shape[1] // 12)
        found = self._cascade.detectMultiScale(
            cv2.equalizeHist(grey), scaleFactor=1.1, minNeighbors=5, minSize=(side, side)
        )
        return len(found)

    def counts(self, pictures: Pictures) -> NDArray[np.int64]:
        """Faces in each sampled picture of a party's video."""
        return np.array([self.count(frame) for frame in pictures.frames], dtype=np.int64)


def face_present(
    name: str,
    who: str,
    pictures: Pictures,
    counts: NDArray[np.int64],
    start_ms: int,
    end_ms: int,
    *,
    key_step: bool,
    limits: FaceLimits,
) -> Check:
    """The share of a step's pictures showing ``who``'s face, and the ranges without."""
    selected = within(pictures.times_ms, start_ms, end_ms)
    total = int(selected.sum())
    if total == 0:
        return Check(name, Verdict.FAIL, 0.0, MODEL, f"no picture of the {who} in the step")
    seen = counts[selected] >= 1
    share = float(seen.mean())
    absent = longer_than(runs(~seen, pictures.times_ms[selected], pictures.interval_ms), 1)
    fail, review = (
        (limits.key_fail, limits.key_review) if key_step else (limits.fail, limits.review)
    )
    return judge(
        name,
        MODEL,
        share,
        fail_below=fail,
        review_below=review,
        detail=f"the {who}'s face is in {share:.0%} of the step's pictures",
        spans=absent,
        measures={"share": share, "pictures": float(total)},
    )


def left_picture(
    pictures: Pictures, counts: NDArray[np.int64], start_ms: int, end_ms: int, limits: FaceLimits
) -> Check:
    """The ranges in which the customer was out of the picture, from when to when."""
    selected = within(pictures.times_ms, start_ms, end_ms)
    if not selected.any():
        return Check("customer_left_picture", Verdict.FAIL, 0.0, MODEL, "no picture in the step")
    absent = runs(counts[selected] == 0, pictures.times_ms[selected], pictures.interval_ms)
    gone = longer_than(absent, limits.absence_ms)
    step_ms = max(1, end_ms - start_ms)
    away_ms = sum(span.length_ms for span in gone)
    if not gone:
        return Check("customer_left_picture", Verdict.PASS, 1.0, MODEL, "never left the picture")
    ranges = ", ".join(f"{s.start_ms / 1000:.1f}-{s.end_ms / 1000:.1f} s" for s in gone)
    return Check(
        "customer_left_picture",
        Verdict.FAIL,
        max(0.0, 1.0 - away_ms / step_ms),
        MODEL,
        f"the customer left the picture {len(gone)} time(s): {ranges}",
        tuple(gone),
        {"away_s": away_ms / 1000},
    )


def extra_faces(
    pictures: Pictures, counts: NDArray[np.int64], start_ms: int, end_ms: int, limits: FaceLimits
) -> Check:
    """More than one face in the customer's picture: someone beside the customer."""
    selected = within(pictures.times_ms, start_ms, end_ms)
    if not selected.any():
        return Check("second_face", Verdict.NEEDS_REVIEW, 0.5, MODEL, "no picture in the step")
    crowded = counts[selected] >= 2
    minimum = limits.extra_min_samples * pictures.interval_ms
    spans = longer_than(runs(crowded, pictures.times_ms[selected], pictures.interval_ms), minimum)
    if not spans:
        return Check("second_face", Verdict.PASS, 1.0, MODEL, "one face at most")
    longest = max(span.length_ms for span in spans)
    verdict = Verdict.FAIL if longest >= limits.extra_fail_ms else Verdict.NEEDS_REVIEW
    share = float(crowded.mean())
    return Check(
        "second_face",
        verdict,
        1.0 - share,
        MODEL,
        f"more than one face for {longest / 1000:.1f} s at the longest",
        tuple(spans),
        {"share": share},
    )
