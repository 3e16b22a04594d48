"""The post-call work on a closed recording part: its composite, its inspection, then its
shipping (in that order: the inspection report is chained after the composite, and the
part is shipped and sealed only once nothing more will be chained into it).

Each handler takes the resources of the process it runs in (a ``JobContext``) and one
``PartJob``, and is idempotent: it first looks whether its work is done, in the part's
signed manifest (the composite, the inspection report) or in the store (shipping, whose
uploads are confirmed by SHA-256 before anything is uploaded again), so a job run twice
does its work once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import Language
from inspection import InspectionError, Limits, inspect_part
from media.archive import compose_part, has_composite
from media.composite import CompositeInfo
from observability import JobMetrics
from storage import Database, SessionDetail
from storage.shipping import RecordingShipper
from workflow import Flow

from .errors import JobError
from .kinds import JobKind, JobOutcome, PartJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What the jobs use of the process that runs them."""

    db: Database
    recordings_dir: Path
    key: Ed25519PrivateKey
    flows: Mapping[str, Flow]
    timezone: str
    #: The process pool composites are made and parts inspected in (numpy, decoding and
    #: muxing hold the GIL).
    composites: Executor
    #: Ships to object storage; None when the recordings stay local.
    shipper: RecordingShipper | None
    #: How long a ship job waits for its part's uploads (then it is tried again later);
    #: None: it does not wait, the shipper keeps trying while this process runs and its
    #: next start finds what is left (the embedded default, whose shipper is the server's).
    ship_wait_s: float | None = None
    #: Counts the runs of each kind (running, done, failed) for ``/metrics``.
    metrics: JobMetrics | None = None
    #: The inspection's thresholds and speech models (None: the defaults).
    limits: Limits | None = None

    def track(self, kind: JobKind) -> contextlib.AbstractAsyncContextManager[None]:
        """Count one run of a job of ``kind`` (nothing without metrics)."""
        return contextlib.nullcontext() if self.metrics is None else self.metrics.track(kind.value)


Handler = Callable[[JobContext, PartJob], Awaitable[JobOutcome]]


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


async def make_composite(ctx: JobContext, job: PartJob) -> JobOutcome:
    """Compose the part, chain it, sign the manifest again; then queue its shipping."""
    directory = job.ref.layout.directory(ctx.recordings_dir)
    if not directory.is_dir():
        logger.warning("session %s: part %d has no recording folder", job.session_id, job.part)
        return JobOutcome.SKIPPED
    outcome = JobOutcome.ALREADY_DONE
    if not await asyncio.to_thread(has_composite, directory):
        detail = await ctx.db.get_session(job.session_id)
        flow = ctx.flows.get(detail.session.flow)
        if flow is None:
            raise JobError(f"session {job.session_id}: unknown flow {detail.session.flow!r}")
        info = composite_info(detail, flow, ctx.timezone, job.part)
        if await compose_part(directory, info, ctx.key, ctx.composites) is not None:
            outcome = JobOutcome.DONE
    return outcome


async def inspect_recording(ctx: JobContext, job: PartJob) -> JobOutcome:
    """Inspect the composed part: its report chained, the manifest signed again, stored.

    A part that cannot be inspected (it does not verify, its flow is unknown) is logged
    and skipped rather than failed, so that it is still shipped: the inspection judges
    the recording, it is no part of the evidence.
    """
    directory = job.ref.layout.directory(ctx.recordings_dir)
    if not directory.is_dir():
        logger.warning("session %s: part %d has no recording folder", job.session_id, job.part)
        return JobOutcome.SKIPPED
    try:
        done = await inspect_part(
            ctx.db,
            ctx.recordings_dir,
            job.ref.layout,
            ctx.flows,
            ctx.key,
            limits=ctx.limits,
            executor=ctx.composites,
        )
    except InspectionError as exc:
        logger.error("session %s: part %d not inspected: %s", job.session_id, job.part, exc)
        return JobOutcome.SKIPPED
    return JobOutcome.DONE if done.made else JobOutcome.ALREADY_DONE


async def ship_part(ctx: JobContext, job: PartJob) -> JobOutcome:
    """Ship what the closed part holds that the store has not, then let local copies go."""
    if ctx.shipper is None:
        return JobOutcome.SKIPPED
    await ctx.shipper.ship_closed(job.ref)
    if ctx.ship_wait_s is not None and not await ctx.shipper.settled(job.ref, ctx.ship_wait_s):
        raise JobError(f"session {job.session_id}: part {job.part} not all stored yet")
    return JobOutcome.DONE


def follow_ups(ctx: JobContext, job: PartJob) -> tuple[PartJob, ...]:
    """The jobs queued once ``job`` has run (again too, if a run was cut before).

    Composite, then inspection, then shipping: the ship job seals the part, so whatever
    is chained into it after hang-up must be there first.
    """
    if job.kind is JobKind.COMPOSITE:
        return (job.then(JobKind.INSPECT),)
    if job.kind is JobKind.INSPECT and ctx.shipper is not None:
        return (job.then(JobKind.SHIP),)
    return ()


#: The handler of each kind of job.
HANDLERS: dict[JobKind, Handler] = {
    JobKind.COMPOSITE: make_composite,
    JobKind.INSPECT: inspect_recording,
    JobKind.SHIP: ship_part,
}
