"""Closing a call's recording part with the database's facts: at hang-up, and after a crash.

The files are media's (``media.archive``, ``media.recovery``); this module hands them
what only the call centre knows: the session's stored facts (the manifest), the flow's
step titles (the composite's chapters), and the rows of segments recovered after a crash.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import MANIFEST_FILE, Language, RecordingLayout
from media import ChainLog
from media.archive import close_archive, sign_archive
from media.composite import CompositeInfo, CompositeResult
from media.recovery import recover_part
from storage import Database, SessionDetail, audit
from storage.manifest import session_manifest
from storage.shipping import RecordingRef, RecordingShipper
from workflow import Flow

from .call import CallOutcome
from .evidence import EvidenceKeeper
from .session import LiveSession

logger = logging.getLogger(__name__)


def composite_info(
    detail: SessionDetail, flow: Flow, timezone: str, part: int = 1
) -> CompositeInfo:
    """What the composite shows: who, where, when, and this part's steps as chapters."""
    s = detail.session
    events = [e for e in detail.events if e.offset_ms is not None and (e.part or 1) == part]
    before = [e for e in detail.events if (e.part or 1) < part]
    resumed_at = before[-1].target if before else flow.initial
    first = events[0].source if events else (resumed_at if part > 1 else s.workflow_state)
    marks = [(0, first)] + [(e.offset_ms or 0, e.target) for e in events]
    return CompositeInfo(
        session_id=s.id,
        branch=s.branch or "-",
        agent_id=s.agent_name or "-",
        started_at=s.started_at or s.created_at,
        steps=tuple((ms, name, flow.step(name).title[Language.ZH_CN]) for ms, name in marks),
        timezone=timezone,
    )


async def close_recording(
    db: Database,
    recordings_dir: Path,
    layout: RecordingLayout,
    flow: Flow,
    chain: ChainLog,
    key: Ed25519PrivateKey,
    *,
    composites: Executor | None,
    timezone: str,
) -> asyncio.Task[CompositeResult | None] | None:
    """Sign the ended part's archive now; returns the composite's job (None without a pool)."""
    detail = await db.get_session(layout.session_id)
    return await close_archive(
        layout.directory(recordings_dir),
        session_manifest(detail, layout.part),
        composite_info(detail, flow, timezone, layout.part),
        chain,
        key,
        composites=composites,
    )


async def close_interrupted_part(
    db: Database, recordings_dir: Path, session_id: str, key: Ed25519PrivateKey
) -> None:
    """Chain, store and sign the recording part a crash left open (no-op if already signed)."""
    detail = await db.get_session(session_id)
    layout = RecordingLayout(session_id, max(detail.session.recording_parts, 1))
    directory = layout.directory(recordings_dir)
    if not directory.is_dir() or (directory / MANIFEST_FILE).is_file():
        return
    found = await asyncio.to_thread(recover_part, directory, session_id)
    for segment in found.recovered:
        await db.save_recording_file(
            session_id,
            party=segment.party,
            kind=segment.kind,
            seq=segment.seq,
            path=layout.path_of(segment.name),
            codec=segment.codec,
            bytes=segment.bytes,
            sha256=segment.sha256,
            frames=segment.frames,
            start_ms=segment.start_ms,
            end_ms=segment.end_ms,
            closed=True,
            part=layout.part,
        )
    detail = await db.get_session(session_id)
    interrupted: dict[str, Any] = {
        "closed_at": datetime.now(UTC).isoformat(),
        "reason": detail.session.end_reason,
        "recovered": [segment.name for segment in found.recovered],
        "empty": list(found.empty),
    }
    manifest = session_manifest(detail, layout.part) | {"interrupted": interrupted}
    await sign_archive(directory, manifest, found.chain, key)
    logger.warning(
        "session %s: interrupted part %d closed (%d open segments chained, %d empty)",
        session_id,
        layout.part,
        len(found.recovered),
        len(found.empty),
    )


class PartCloser:
    """Closes the recording parts of ended calls: signed at once, composites behind."""

    def __init__(
        self,
        db: Database,
        keeper: EvidenceKeeper,
        recordings_dir: Path,
        key: Ed25519PrivateKey,
        *,
        composites: Executor | None,
        timezone: str,
        shipper: RecordingShipper | None,
    ) -> None:
        self.db = db
        self.keeper = keeper
        self.recordings_dir = recordings_dir
        self.key = key
        self.composites = composites
        self.timezone = timezone
        self.shipper = shipper
        #: Composites being made, by the part's folder.
        self.composite_jobs: dict[str, asyncio.Future[Any]] = {}

    async def close_part(self, session: LiveSession, reason: str, *, hold: bool) -> CallOutcome:
        """Close a closing call's relay and recording, store how it ended; the outcome.

        The part ends interrupted with ``hold`` (the kiosk dropped mid-call), failed if the
        recorder failed, else ended. Its rows, evidence and chain are complete first.
        """
        outcome = CallOutcome.INTERRUPTED if hold else CallOutcome.ENDED
        if session.relay is not None:
            await session.relay.close()
            if session.relay.recorder.errors:
                outcome = CallOutcome.FAILED
        # Segment rows and workflow events are written before the session is closed.
        await session.tasks.join()
        # A change under way (evidence being written) finishes before the archive closes.
        async with session.lock:
            await self.keeper.chain_pending(session)
        await self.db.end_session(
            session.id, ended_at=datetime.now(UTC), end_reason=reason, status=outcome.value
        )
        if outcome is not CallOutcome.INTERRUPTED:
            step = session.step
            terminal = step.name if step.terminal else None
            await audit.note_session_facts(self.db, session.id, session.context.to_dict(), terminal)
        if session.relay is not None and session.t0 is not None:
            chain = session.relay.recorder.chain
            await self.close(session.recording_ref(), session.flow, chain)
        return outcome

    async def close(self, ref: RecordingRef, flow: Flow, chain: ChainLog | None) -> None:
        """Sign the part's archive now; make its composite in the background, then ship."""
        if chain is None:
            return
        job = await close_recording(
            self.db,
            self.recordings_dir,
            ref.layout,
            flow,
            chain,
            self.key,
            composites=self.composites,
            timezone=self.timezone,
        )
        if job is not None:
            folder = ref.layout.folder
            self.composite_jobs[folder] = job
            job.add_done_callback(lambda _: self.composite_jobs.pop(folder, None))
        if self.shipper is not None:  # the archive now, the composite when it is made
            self.shipper.archive_closed(ref, job)

    async def finish(self) -> None:
        """Wait for the composites under way: they are quick next to a call."""
        await asyncio.gather(*list(self.composite_jobs.values()), return_exceptions=True)
