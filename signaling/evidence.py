"""Keeping a live session's evidence: written next to its recording, hash-chained and stored.

The files are ``media.evidence``'s; this module numbers them in the session, chains
them into the recording's hash chain once it exists, and stores their rows. Evidence the
disk has no room for is refused (``recording_failed``) and marks the disk full, which
ends the call through its recorder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from media.evidence import Prepared, SignatureRefused, prepare, write_evidence
from media.evidence import decode_signature as decode_png
from media.space import is_disk_full
from storage import Database

from .errors import InvalidEvidence, RecordingFailed
from .session import LiveSession, Unchained

logger = logging.getLogger(__name__)


def decode_signature(step: str, data_url: str) -> bytes:
    """The PNG bytes of a signature given in ``step``, or InvalidEvidence (blocking)."""
    try:
        return decode_png(data_url)
    except SignatureRefused as exc:
        raise InvalidEvidence("signature_image", step, exc.problem) from None


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
        return prepare(
            session.layout,
            kind=kind,
            step=session.state,
            seq=session.evidence.seq + 1 + offset,
            data=data,
            ext=ext,
            provided_by=provided_by,
            offset_ms=session.offset_ms(),
        )

    async def keep(
        self, session: LiveSession, items: list[Prepared], context: Mapping[str, Any]
    ) -> None:
        """Write, chain and store ``items`` (the caller holds the session's lock)."""
        directory = session.layout.directory(self.recordings_dir)
        for item in items:
            try:
                await asyncio.to_thread(write_evidence, directory, item.name, item.data)
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                await asyncio.to_thread((directory / item.name).unlink, missing_ok=True)
                # The recording cannot go on either: its recorder ends the call (as failed).
                recorder = None if session.relay is None else session.relay.recorder
                if recorder is not None and recorder.space is not None:
                    recorder.space.trip(f"evidence {item.kind}: {exc}")
                raise RecordingFailed() from exc
            session.evidence.unchained.append(Unchained(item.name, item.sha256, len(item.data)))
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
            session.evidence.seq = item.seq
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
        while session.evidence.unchained:
            item = session.evidence.unchained[0]
            await asyncio.to_thread(chain.add, item.name, item.sha256, item.bytes)
            session.evidence.unchained.pop(0)
