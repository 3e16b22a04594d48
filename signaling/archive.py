"""Closing a session's archive: the signed manifest, then the composite.

At hang-up the archive (every track's segments, hash-chained as they closed) is
signed at once: it is the evidentiary record and it is complete, verifiable and
replayable within a second. The composite (both parties side by side with the
overlay, H.264/AAC) is then made from the archive in a worker process, chained after
the segments, and the manifest is signed again with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import dataclasses
import logging
import os
import signal
import sys
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from media import ChainLog, sha256_file, sign_manifest, write_signed_manifest
from media.composite import CompositeInfo, CompositeResult, compose_session
from storage import SessionDetail
from workflow import Flow

logger = logging.getLogger(__name__)

COMPOSITE = "composite.mp4"


def session_manifest(detail: SessionDetail, part: int = 1) -> dict[str, Any]:
    """The session's facts, this part's segments and evidence, and the workflow events.

    Every workflow event of the session so far is listed with the recording part its
    offset refers to; segments and evidence files are this part's (this folder's).
    """
    s = detail.session
    return {
        "session_id": s.id,
        "service": s.service,
        "flow": s.flow,
        "branch": s.branch,
        "kiosk": s.kiosk_name,
        "agent": s.agent_name,
        "status": str(s.status),
        "started_at": s.started_at.isoformat() if s.started_at else None,
        "ended_at": s.ended_at.isoformat() if s.ended_at else None,
        "end_reason": s.end_reason,
        "part": part,
        "segments": [
            {
                "party": str(f.party),
                "kind": str(f.kind),
                "seq": f.seq,
                "file": Path(f.path).name,
                "codec": f.codec,
                "bytes": f.bytes,
                "sha256": f.sha256,
                "frames": f.frames,
                "start_ms": f.start_ms,
                "end_ms": f.end_ms,
            }
            for f in detail.part_files(part)
        ],
        "evidence": [
            {
                "seq": e.seq,
                "step": e.step,
                "kind": e.kind,
                "file": e.file,
                "sha256": e.sha256,
                "offset_ms": e.offset_ms,
                "at": e.at.isoformat(),
                "provided_by": e.provided_by,
            }
            for e in detail.evidence
            if e.part == part
        ],
        "workflow": [
            {
                "seq": e.seq,
                "event": e.event,
                "from": e.source,
                "to": e.target,
                "actor": e.actor,
                "at": e.at.isoformat(),
                "offset_ms": e.offset_ms,
                "part": e.part,
                "reason": e.reason,
            }
            for e in detail.events
        ],
    }


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
        steps=tuple((ms, name, flow.step(name).title["zh-CN"]) for ms, name in marks),
        timezone=timezone,
    )


async def sign_archive(
    folder: Path,
    detail: SessionDetail,
    chain: ChainLog,
    key: Ed25519PrivateKey,
    extra: dict[str, Any] | None = None,
    *,
    part: int = 1,
) -> None:
    """Sign the manifest over the chain as it stands (off the event loop)."""
    manifest = session_manifest(detail, part) | (extra or {})
    signed = sign_manifest(manifest, chain.chain, key)
    await asyncio.to_thread(write_signed_manifest, folder, signed)


async def make_composite(
    folder: Path,
    detail: SessionDetail,
    flow: Flow,
    chain: ChainLog,
    key: Ed25519PrivateKey,
    executor: Executor,
    timezone: str,
    *,
    part: int = 1,
) -> CompositeResult | None:
    """Compose the session in ``executor``, chain the files and sign the manifest again."""
    loop = asyncio.get_running_loop()
    info = composite_info(detail, flow, timezone, part)
    began = datetime.now(UTC)
    try:
        result = await loop.run_in_executor(executor, _compose, folder, folder / COMPOSITE, info)
    except Exception:
        logger.exception("session %s: the composite failed; the archive stands", detail.session.id)
        await asyncio.to_thread(chain.close)
        return None
    for path in (result.path, result.vtt_path):
        digest = await asyncio.to_thread(sha256_file, path)
        await asyncio.to_thread(chain.add, path.name, digest, path.stat().st_size)
    await asyncio.to_thread(chain.close)
    composite = {
        "file": result.path.name,
        "captions": result.vtt_path.name,
        "duration_s": round(result.duration_s, 3),
        "frames": result.frames,
        "chapters": [{"start_s": round(t, 3), "title": title} for t, title in result.chapters],
        "made_at": datetime.now(UTC).isoformat(),
        "warnings": result.warnings,
    }
    await sign_archive(folder, detail, chain, key, {"composite": composite}, part=part)
    logger.info(
        "session %s: composite of %.1f s made in %.1f s",
        detail.session.id,
        result.duration_s,
        (datetime.now(UTC) - began).total_seconds(),
    )
    return result


async def close_archive(
    folder: Path,
    detail: SessionDetail,
    flow: Flow,
    chain: ChainLog,
    key: Ed25519PrivateKey,
    *,
    composites: Executor | None,
    timezone: str,
    part: int = 1,
) -> asyncio.Task[CompositeResult | None] | None:
    """Sign the part's archive now; returns the composite's job (None without a pool)."""
    await sign_archive(folder, detail, chain, key, part=part)
    if composites is None:
        await asyncio.to_thread(chain.close)
        return None
    return asyncio.ensure_future(
        make_composite(folder, detail, flow, chain, key, composites, timezone, part=part)
    )


#: Niceness of the composite worker: live calls come first when the CPU is short.
WORKER_NICENESS = 10


def composite_worker_init() -> None:
    """Start a composite worker process: lower priority, and gone with the server."""
    os.nice(WORKER_NICENESS)
    if sys.platform == "linux":
        # PR_SET_PDEATHSIG: a server killed outright takes its worker with it.
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGTERM)
        if os.getppid() == 1:  # the server died before this line
            os._exit(0)


def _compose(folder: Path, out: Path, info: CompositeInfo) -> CompositeResult:
    """Compose into a temporary name, renamed when complete (runs in a worker process)."""
    partial = out.with_name(out.stem + ".partial" + out.suffix)
    result = compose_session(folder, partial, info)
    vtt = out.with_suffix(".vtt")
    result.vtt_path.replace(vtt)
    partial.replace(out)
    return dataclasses.replace(result, path=out, vtt_path=vtt)
