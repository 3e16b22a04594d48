"""Closing a call's recording part with the database's facts: at hang-up, and after a crash.

The files are media's (``media.archive``, ``media.recovery``); this module hands them
what only the call centre knows: the session's stored facts (the manifest) and the rows
of segments recovered after a crash. The composite and the shipping of a closed part
are post-call jobs (``jobs/``), queued here and done in this process or by workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import MANIFEST_FILE, RecordingLayout
from jobs import JobError, JobKind, JobQueue, PartJob
from media import ChainLog, IntegrityError, MediaError, SessionRecorder
from media.archive import close_archive, has_composite, sign_archive
from media.recovery import recover_part
from storage import Database, audit
from storage.leftovers import leftover_refs, list_parts
from storage.manifest import session_manifest
from storage.shipping import RecordingRef, RecordingShipper

from .call import CallOutcome
from .evidence import EvidenceKeeper
from .session import LiveSession

logger = logging.getLogger(__name__)

#: The recorder's errors a failed part's manifest keeps (the first ones).
MAX_ERRORS = 20


async def close_recording(
    db: Database,
    recordings_dir: Path,
    layout: RecordingLayout,
    chain: ChainLog,
    key: Ed25519PrivateKey,
) -> None:
    """Sign the ended part's archive now over its chain, which is closed."""
    detail = await db.get_session(layout.session_id)
    await close_archive(
        layout.directory(recordings_dir), session_manifest(detail, layout.part), chain, key
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
    await close_left_open(db, recordings_dir, layout, key, "interrupted")


async def close_left_open(
    db: Database,
    recordings_dir: Path,
    layout: RecordingLayout,
    key: Ed25519PrivateKey,
    why: str,
    **details: Any,
) -> None:
    """Chain the part's segments left open as found, store their rows, sign the manifest.

    ``why`` names the manifest's section that says so (``interrupted``: a crash;
    ``failed``: the recording could not go on), with the session's end reason and
    ``details``.
    """
    directory = layout.directory(recordings_dir)
    session_id = layout.session_id
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
    section: dict[str, Any] = {
        "closed_at": datetime.now(UTC).isoformat(),
        "reason": detail.session.end_reason,
        "recovered": [segment.name for segment in found.recovered],
        "empty": list(found.empty),
    } | details
    manifest = session_manifest(detail, layout.part) | {why: section}
    await sign_archive(directory, manifest, found.chain, key)
    logger.warning(
        "session %s: %s part %d closed (%d open segments chained, %d empty)",
        session_id,
        why,
        layout.part,
        len(found.recovered),
        len(found.empty),
    )


async def queue_missing_composites(db: Database, recordings_dir: Path, jobs: JobQueue) -> int:
    """Queue the composite of every signed part that has none; how many were queued.

    At start: a part closed after a ``kill -9`` (``close_interrupted_part``), one whose
    composite a stop cut, or whose job a Redis restart lost. The job is idempotent and
    queued once by its key, so a part being composed elsewhere is not composed twice.
    """
    sealed = [left for left in await asyncio.to_thread(list_parts, recordings_dir) if left.sealed]
    queued = 0
    for ref, left in await leftover_refs(db, sealed):
        directory = left.layout.directory(recordings_dir)
        try:
            if await asyncio.to_thread(has_composite, directory):
                continue
            queued += await jobs.enqueue(PartJob.of(JobKind.COMPOSITE, ref))
        except (IntegrityError, JobError) as exc:
            logger.error(
                "session %s: part %d: composite not queued: %s",
                ref.session_id,
                left.layout.part,
                exc,
            )
    if queued:
        logger.warning("%d signed parts had no composite: queued", queued)
    return queued


class PartCloser:
    """Closes the recording parts of ended calls: signed at once, composites behind."""

    def __init__(
        self,
        db: Database,
        keeper: EvidenceKeeper,
        recordings_dir: Path,
        key: Ed25519PrivateKey,
        *,
        jobs: JobQueue | None,
        shipper: RecordingShipper | None,
    ) -> None:
        """Close parts into ``recordings_dir``; their post-call work goes on ``jobs``.

        Without ``jobs`` no composite is made (the archive is signed all the same).
        """
        self.db = db
        self.keeper = keeper
        self.recordings_dir = recordings_dir
        self.key = key
        self.jobs = jobs
        self.shipper = shipper
        #: Composites being made in this process, by the part's folder.
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
            recorder = session.relay.recorder
            try:
                if recorder.errors:
                    await self.close_failed(session.recording_ref(), recorder)
                else:
                    await self.close(session.recording_ref(), recorder.chain)
            except (MediaError, OSError) as exc:
                # The call still ends for both parties; the part stays unsigned (verify
                # says so) rather than the session staying open for ever.
                logger.error("session %s: part %d not closed: %s", session.id, session.part, exc)
        return outcome

    async def close(self, ref: RecordingRef, chain: ChainLog | None) -> None:
        """Sign the part's archive now; queue its composite (then inspection and shipping)."""
        if chain is None:
            return
        await close_recording(self.db, self.recordings_dir, ref.layout, chain, self.key)
        run = await self._queue(PartJob.of(JobKind.COMPOSITE, ref))
        if run is not None:
            folder = ref.layout.folder
            self.composite_jobs[folder] = run
            run.add_done_callback(lambda _: self.composite_jobs.pop(folder, None))
        if self.shipper is not None:  # the archive now, the rest by the ship job
            self.shipper.archive_closed(ref, run)

    async def close_failed(self, ref: RecordingRef, recorder: SessionRecorder) -> None:
        """Close the part whose recorder failed: what it wrote is chained as found and signed.

        Segments the recorder could not close (the disk filled up) are chained as they
        stand, readable up to their last cluster. While the disk is full no composite is
        made: the next start queues it (``queue_missing_composites``).
        """
        if recorder.chain is None:
            return
        with contextlib.suppress(OSError):  # its last line may not have fitted: cut on resume
            await asyncio.to_thread(recorder.chain.close)
        errors = recorder.errors[:MAX_ERRORS]
        await close_left_open(
            self.db, self.recordings_dir, ref.layout, self.key, "failed", errors=errors
        )
        full = recorder.space is not None and recorder.space.full
        run = None if full else await self._queue(PartJob.of(JobKind.COMPOSITE, ref))
        if self.shipper is not None:
            self.shipper.archive_closed(ref, run)

    async def _queue(self, job: PartJob) -> asyncio.Future[Any] | None:
        """Queue ``job``; its run if it runs in this process."""
        if self.jobs is None:
            return None
        try:
            await self.jobs.enqueue(job)
        except JobError as exc:  # the archive is signed: a composite can be made later
            logger.error("session %s: %s not queued: %s", job.session_id, job.key, exc)
            return None
        return self.jobs.running_here(job)

    async def finish(self) -> None:
        """Wait for the composites under way here: they are quick next to a call."""
        await asyncio.gather(*list(self.composite_jobs.values()), return_exceptions=True)
