"""Workflow evidence: checked, written next to the recording, hash-chained and stored.

Each piece of evidence becomes one file in the folder of the recording part it was
given in, ``evidence-<step>-<seq>.<ext>``: the signature (PNG), the ID photo taken
from the kiosk's video (JPEG), or a small JSON record (a tick, an acknowledgement,
questionnaire answers, a spoken confirmation, a played announcement). The file's
SHA-256 enters the recording's hash chain, its row the database, and its reference
``<file>#<sha256>`` the workflow context, so the signed manifest covers all of it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from storage import Database

from .errors import InvalidEvidence
from .session import LiveSession, Unchained, part_folder

logger = logging.getLogger(__name__)

#: The largest signature accepted (decoded PNG bytes); its data URL fits in one message.
MAX_SIGNATURE_BYTES = 160 * 1024
PNG_DATA_URL = "data:image/png;base64,"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Below this share of dark pixels a signature pad is taken to be blank.
_MIN_INK = 0.002


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


def decode_signature(step: str, data_url: str) -> bytes:
    """The PNG bytes of a signature data URL, refused unless it is a drawn PNG (blocking)."""

    def refuse(problem: str) -> InvalidEvidence:
        return InvalidEvidence("signature_image", step, problem)

    if not data_url.startswith(PNG_DATA_URL):
        raise refuse(f'must be a PNG data URL ("{PNG_DATA_URL}...")')
    encoded = data_url[len(PNG_DATA_URL) :]
    if len(encoded) * 3 // 4 > MAX_SIGNATURE_BYTES + 2:
        raise refuse(f"the image is over the limit of {MAX_SIGNATURE_BYTES} bytes")
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise refuse(f"the data URL is not valid base64 ({exc})") from None
    if len(png) > MAX_SIGNATURE_BYTES:
        raise refuse(f"the image is {len(png)} bytes, over the limit of {MAX_SIGNATURE_BYTES}")
    if not png.startswith(_PNG_MAGIC):
        raise refuse("the data is not a PNG image")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise refuse("the PNG image cannot be decoded")
    height, width = image.shape[:2]
    if not (100 <= width <= 4000 and 40 <= height <= 2000):
        raise refuse(f"the image is {width}x{height}; a signature pad is 100-4000 x 40-2000")
    if np.count_nonzero(image < 128) < _MIN_INK * image.size:
        raise refuse("the signature pad is blank")
    return png


def record(session: LiveSession, step: str, kind: str, **fields: Any) -> bytes:
    """A JSON evidence record, for evidence that is not a picture."""
    body = {"session_id": session.id, "step": step, "kind": kind, **fields}
    return (json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode()


def refs(items: Mapping[str, Prepared]) -> dict[str, str]:
    """Evidence kind -> reference, as the workflow context takes it."""
    return {kind: item.ref for kind, item in items.items()}


def _write_new(path: Path, data: bytes) -> None:
    # Exclusive create and fsync: evidence is never overwritten and survives a crash.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


class EvidenceKeeper:
    """Names, writes, chains and stores the evidence of live sessions."""

    def __init__(self, db: Database, recordings_dir: Path) -> None:
        self.db = db
        self.recordings_dir = recordings_dir

    def prepare(
        self,
        session: LiveSession,
        kind: str,
        data: bytes,
        ext: str,
        provided_by: str,
        *,
        offset: int = 0,
    ) -> Prepared:
        """Name the evidence (the ``offset``-th after the last stored) and hash it."""
        seq = session.evidence_seq + 1 + offset
        name = f"evidence-{session.state}-{seq:03d}.{ext}"
        digest = hashlib.sha256(data).hexdigest()
        where = name if session.part == 1 else f"{part_folder(session.part)}/{name}"
        return Prepared(
            kind=kind,
            step=session.state,
            seq=seq,
            name=name,
            data=data,
            sha256=digest,
            ref=f"{where}#{digest}",
            offset_ms=session.offset_ms(),
            provided_by=provided_by,
        )

    async def keep(
        self, session: LiveSession, items: list[Prepared], context: Mapping[str, Any]
    ) -> None:
        """Write, chain and store ``items`` (the caller holds the session's lock)."""
        folder = self.recordings_dir / session.directory
        for item in items:
            await asyncio.to_thread(_write_new, folder / item.name, item.data)
            session.unchained.append(Unchained(item.name, item.sha256, len(item.data)))
            await self.chain_pending(session)
            await self.db.add_evidence(
                session.id,
                part=session.part,
                step=item.step,
                kind=item.kind,
                file=item.name,
                sha256=item.sha256,
                offset_ms=item.offset_ms,
                at=datetime.now(UTC),
                provided_by=item.provided_by,
                context=dict(context),
                seq=item.seq,
            )
            session.evidence_seq = item.seq
            logger.info(
                "session %s: evidence %s (%s) kept as %s",
                session.id,
                item.kind,
                item.step,
                item.name,
            )

    async def chain_pending(self, session: LiveSession) -> None:
        """Chain the evidence files written so far, once the recording's chain exists."""
        chain = None if session.relay is None else session.relay.recorder.chain
        if chain is None:
            return
        while session.unchained:
            item = session.unchained[0]
            await asyncio.to_thread(chain.add, item.name, item.sha256, item.bytes)
            session.unchained.pop(0)
