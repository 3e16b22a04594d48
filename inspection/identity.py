"""The customer's identity: the face in the call compared with the ID-photo still.

During the identity check the server takes a still of the kiosk's video (the ``id_photo``
evidence). Its faces and the customer's face in a sample of the part's kiosk pictures
(one every 3 s, 40 at most, only those showing exactly one face) are turned into 128-number
descriptors by dlib's face-recognition ResNet and compared by Euclidean distance, as
dlib recommends: below 0.6, the same person (99.38 % on the LFW benchmark). A picture
matches when it is that close to every face of the still, so that the card's portrait,
where the still shows it, must be the customer's too.

The weights come with the ``face-recognition-models`` package (dlib's own models, put in
the public domain by their author; the ResNet trained on Creative Commons face sets),
dlib itself with the ``dlib-bin`` wheel: nothing is downloaded. Pictures are compared in
grey, as the part's pictures are sampled.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np
from numpy.typing import NDArray

from common import EvidenceKind, Party
from workflow import Flow

from .recording import RecordedPart
from .spans import runs
from .verdicts import Check, Model, Verdict

NAME = "customer_identity"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"
SHAPES = "shape_predictor_5_face_landmarks.dat"
MODEL = Model(
    "dlib-face-recognition-resnet-v1",
    f"dlib {dlib.__version__}",
    licence="weights public domain or CC0 1.0 (dlib-models); dlib Boost Software License",
)
#: The still is made this wide before its faces are looked for.
STILL_WIDTH = 640

Descriptor = NDArray[np.float64]


@dataclass(frozen=True)
class IdentityLimits:
    """When the call's face is the ID photo's."""

    #: dlib's distance below which two faces are one person.
    same_below: float = 0.6
    #: A picture at this distance or more is clearly someone else.
    other_from: float = 0.7
    #: One kiosk picture compared per this many ms at most...
    every_ms: int = 3000
    #: ... and no more than this many in a part (a long call's are spread further apart).
    most_pictures: int = 40
    #: The share of compared pictures that must match for a pass.
    pass_share: float = 0.8
    #: Someone else clearly seen this long (ms, in compared pictures: two in a row at
    #: least) fails the check.
    fail_ms: int = 6000


def models_folder() -> Path:
    """Where ``face-recognition-models`` keeps its weights (its module is not imported:
    it loads pkg_resources, deprecated, for the same path)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face-recognition-models package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class FaceMatcher:
    """dlib's HOG face detector, 5-point landmarks and face-recognition ResNet."""

    model = MODEL

    def __init__(self) -> None:
        folder = models_folder()
        self._detect = dlib.get_frontal_face_detector()
        self._shapes = dlib.shape_predictor(str(folder / SHAPES))
        self._resnet = dlib.face_recognition_model_v1(str(folder / RESNET))

    def describe(self, grey: NDArray[np.uint8], *, most: int | None = None) -> list[Descriptor]:
        """A descriptor of each face in a grey picture; none if it shows more than ``most``."""
        rgb = np.ascontiguousarray(np.dstack([grey] * 3))
        boxes = self._detect(rgb, 1)  # upsampled once: faces from 40 pixels
        if most is not None and len(boxes) > most:
            return []
        return [
            np.array(self._resnet.compute_face_descriptor(rgb, self._shapes(rgb, box)))
            for box in boxes
        ]


def owed(flow: Flow, part: RecordedPart) -> bool:
    """Whether the part is judged: it ran a step that takes the ID photo, or holds one."""
    kind = EvidenceKind.ID_PHOTO.value
    ran = any(kind in flow.step(visit.name).evidence for visit in part.steps)
    return ran or any(row["kind"] == kind for row in part.evidence())


def id_photo(part: RecordedPart) -> NDArray[np.uint8] | None:
    """The part's last ID-photo still, grey and at most ``STILL_WIDTH`` wide; None if none."""
    kind = EvidenceKind.ID_PHOTO.value
    rows = [r for r in part.evidence() if r["kind"] == kind and r.get("file")]
    path = part.folder / str(rows[-1]["file"]) if rows else None
    if path is None or not path.is_file():
        return None
    grey = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None or grey.size == 0:
        return None
    if grey.shape[1] > STILL_WIDTH:
        height = round(grey.shape[0] * STILL_WIDTH / grey.shape[1])
        grey = cv2.resize(grey, (STILL_WIDTH, height), interpolation=cv2.INTER_AREA)
    still: NDArray[np.uint8] = grey.astype(np.uint8)
    return still


def distances(
    part: RecordedPart, still: list[Descriptor], matcher: FaceMatcher, every_ms: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The times of the compared kiosk pictures and each one's distance to the still (the
    largest to any of its faces)."""
    pictures = part.pictures[Party.KIOSK]
    times: list[int] = []
    found: list[float] = []
    next_ms = 0
    for at, frame in zip(pictures.times_ms.tolist(), pictures.frames, strict=True):
        if at < next_ms:
            continue
        faces = matcher.describe(frame, most=1)
        if not faces:
            continue  # no face or a crowd: the face checks report those
        next_ms = int(at) + every_ms
        times.append(int(at))
        found.append(max(float(np.linalg.norm(faces[0] - known)) for known in still))
    return np.array(times, dtype=np.int64), np.array(found, dtype=np.float64)


def _review(detail: str, measures: dict[str, float] | None = None) -> Check:
    return Check(NAME, Verdict.NEEDS_REVIEW, 0.5, MODEL, detail, (), measures or {})


def customer_identity(
    part: RecordedPart, limits: IdentityLimits, matcher: FaceMatcher | None = None
) -> Check:
    """The call's face against the ID photo: pass, fail (someone else) or needs review."""
    still = id_photo(part)
    if still is None:
        return _review("no ID photo in the part")
    matcher = matcher or FaceMatcher()
    known = matcher.describe(still)
    if not known:
        return _review("no face in the ID photo")
    every_ms = max(limits.every_ms, part.end_ms // limits.most_pictures)
    times, found = distances(part, known, matcher, every_ms)
    if len(found) == 0:
        return _review("no picture of the call shows one face to compare")
    matched = found < limits.same_below
    share = float(matched.mean())
    other = longest_ms(found >= limits.other_from, times, every_ms)
    spans = tuple(runs(~matched, times, every_ms))
    measures = {
        "median_distance": float(np.median(found)),
        "max_distance": float(found.max()),
        "threshold": limits.same_below,
        "pictures": float(len(found)),
        "still_faces": float(len(known)),
        "other_s": other / 1000,
    }
    described = (
        f"{share:.0%} of {len(found)} compared pictures match the ID photo "
        f"(median distance {measures['median_distance']:.2f}, same below {limits.same_below})"
    )
    if other >= limits.fail_ms:
        verdict = Verdict.FAIL
        described = f"someone else than the ID photo's for {other / 1000:.0f} s: {described}"
    elif share >= limits.pass_share:
        verdict = Verdict.PASS
    else:
        verdict = Verdict.NEEDS_REVIEW
    return Check(NAME, verdict, share, MODEL, described, spans, measures)


def longest_ms(mask: NDArray[np.bool_], times_ms: NDArray[np.int64], every_ms: int) -> int:
    """The longest time the compared pictures in ``mask`` last, run by run."""
    return max((span.length_ms for span in runs(mask, times_ms, every_ms)), default=0)
