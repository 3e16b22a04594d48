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
import struct
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
#: The smallest and largest signature pads (width, height in pixels), checked before decoding.
MIN_SIGNATURE_SIZE = (100, 40)
MAX_SIGNATURE_SIZE = (4000, 2000)
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


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk), read without decoding."""
    if not data.startswith(_PNG_MAGIC):
        raise SignatureRefused("the data is not a PNG image")
    header = data[len(_PNG_MAGIC) : len(_PNG_MAGIC) + 16]
    if len(header) < 16 or header[4:8] != b"IHDR":
        raise SignatureRefused("the PNG image cannot be decoded: its first chunk is not IHDR")
    width, height = struct.unpack(">II", header[8:16])
    return width, height


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
    width, height = png_size(png)
    if not (MIN_SIGNATURE_SIZE[0] <= width <= MAX_SIGNATURE_SIZE[0]) or not (
        MIN_SIGNATURE_SIZE[1] <= height <= MAX_SIGNATURE_SIZE[1]
    ):
        # Refused from the header: a tiny file can declare a picture of gigabytes.
        raise SignatureRefused(
            f"the image is {width}x{height}; a signature pad is "
            f"{MIN_SIGNATURE_SIZE[0]}-{MAX_SIGNATURE_SIZE[0]} x "
            f"{MIN_SIGNATURE_SIZE[1]}-{MAX_SIGNATURE_SIZE[1]} pixels"
        )
    try:
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        image = None
    if image is None:
        raise SignatureRefused("the PNG image cannot be decoded")
    if image.shape[:2] != (height, width):
        raise SignatureRefused("the PNG image is not the size its header says")
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
