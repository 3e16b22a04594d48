"""Evidence files: a signature checked by decoding it, named, hashed and written durably.

Each piece of evidence becomes one file in the folder of the recording part it was
given in, ``evidence-<step>-<seq>.<ext>``: the signature (PNG), the ID photo taken
from the kiosk's video (JPEG), or a small JSON record (a tick, an acknowledgement,
questionnaire answers, a spoken confirmation, a played announcement). Its reference
``<path in the session folder>#<sha256>`` goes into the workflow context, so the
signed manifest covers it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common import RecordingLayout

from .errors import MediaError

#: The largest signature accepted (decoded PNG bytes); its data URL fits in one message.
MAX_SIGNATURE_BYTES = 160 * 1024
PNG_DATA_URL = "data:image/png;base64,"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Below this share of dark pixels a signature pad is taken to be blank.
_MIN_INK = 0.002


class SignatureRefused(MediaError, ValueError):
    """A signature that is not a drawn PNG of a sensible size; ``problem`` says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"signature refused: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class Prepared:
    """Evidence checked and named, not yet written: its reference goes into the context."""

    kind: str
    step: str
    seq: int
    name: str
    data: bytes
    sha256: str
    ref: str
    offset_ms: int | None
    provided_by: str


def prepare(
    layout: RecordingLayout,
    *,
    kind: str,
    step: str,
    seq: int,
    data: bytes,
    ext: str,
    provided_by: str,
    offset_ms: int | None,
) -> Prepared:
    """Name the ``seq``-th evidence of the session and hash it, as part ``layout`` keeps it."""
    name = f"evidence-{step}-{seq:03d}.{ext}"
    digest = hashlib.sha256(data).hexdigest()
    return Prepared(
        kind=kind,
        step=step,
        seq=seq,
        name=name,
        data=data,
        sha256=digest,
        ref=f"{layout.in_session(name)}#{digest}",
        offset_ms=offset_ms,
        provided_by=provided_by,
    )


def decode_signature(data_url: str) -> bytes:
    """The PNG bytes of a signature data URL, refused unless it is a drawn PNG (blocking)."""
    if not data_url.startswith(PNG_DATA_URL):
        raise SignatureRefused(f'must be a PNG data URL ("{PNG_DATA_URL}...")')
    encoded = data_url[len(PNG_DATA_URL) :]
    if len(encoded) * 3 // 4 > MAX_SIGNATURE_BYTES + 2:
        raise SignatureRefused(f"the image is over the limit of {MAX_SIGNATURE_BYTES} bytes")
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureRefused(f"the data URL is not valid base64 ({exc})") from None
    if len(png) > MAX_SIGNATURE_BYTES:
        raise SignatureRefused(
            f"the image is {len(png)} bytes, over the limit of {MAX_SIGNATURE_BYTES}"
        )
    if not png.startswith(_PNG_MAGIC):
        raise SignatureRefused("the data is not a PNG image")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise SignatureRefused("the PNG image cannot be decoded")
    height, width = image.shape[:2]
    if not (100 <= width <= 4000 and 40 <= height <= 2000):
        raise SignatureRefused(
            f"the image is {width}x{height}; a signature pad is 100-4000 x 40-2000"
        )
    if np.count_nonzero(image < 128) < _MIN_INK * image.size:
        raise SignatureRefused("the signature pad is blank")
    return png


def record(session_id: str, step: str, kind: str, **fields: Any) -> bytes:
    """A JSON evidence record, for evidence that is not a picture."""
    body = {"session_id": session_id, "step": step, "kind": kind, **fields}
    return (json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode()


def refs(items: Mapping[str, Prepared]) -> dict[str, str]:
    """Evidence kind -> reference, as the workflow context takes it."""
    return {kind: item.ref for kind, item in items.items()}


def write_evidence(directory: Path, name: str, data: bytes) -> None:
    """Write a new evidence file into ``directory`` (blocking).

    Exclusive create and fsync: evidence is never overwritten and survives a crash.
    """
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
