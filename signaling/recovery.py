"""After a server restart: closing the interrupted recording part, and resuming the session.

A call under way when the server died is marked ``interrupted`` at the next start; its
workflow step and context are kept. Its recording part is closed there and then: the
segments that were still open (readable up to the last flushed cluster) are hashed and
appended to the part's ``chain.jsonl`` in file-name order, segments that hold no frame
at all (opened as the server died) are set aside as ``<name>.empty``, and a manifest
marked ``"interrupted"`` is signed over the chain. The kiosk may then ``resume``: the
session goes back to the head of the queue at the same step, and the next agent's call
is recorded as a new part in ``<session>/part-<n>/``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from media import HashChain, sha256_file, sign_manifest, write_signed_manifest
from media.integrity import CHAIN_FILE, MANIFEST_FILE, ChainLog
from media.verify import SEGMENT_RE
from storage import Database, NotFound, SessionStatus
from workflow import Flow, FlowContext, get_flow

from .archive import session_manifest
from .errors import OutOfOrder, SignalingError, Unauthorised
from .session import Client, LiveSession, part_folder

logger = logging.getLogger(__name__)


async def load_interrupted(
    db: Database, flows: dict[str, Flow], client: Client, session_id: str
) -> LiveSession:
    """The kiosk's own interrupted session, at its stored step, as the next recording part."""
    try:
        stored = (await db.get_session(session_id)).session
    except NotFound:
        raise SignalingError(f'session "{session_id}" does not exist') from None
    if stored.kiosk_name != client.name:
        raise Unauthorised("a kiosk may resume only its own sessions")
    if stored.status != SessionStatus.INTERRUPTED:
        raise OutOfOrder("resume", f"session {stored.status}")
    return LiveSession(
        id=stored.id,
        service=stored.service,
        flow=get_flow(flows, stored.flow),
        kiosk=client,
        state=stored.workflow_state,
        context=FlowContext(stored.workflow_context),
        part=stored.recording_parts + 1,
        evidence_seq=await db.next_evidence_seq(stored.id) - 1,
    )


def part_directory(recordings_dir: Path, session_id: str, part: int) -> Path:
    """The folder of one recording part."""
    folder = recordings_dir / session_id
    return folder if part <= 1 else folder / part_folder(part)


@dataclasses.dataclass
class _Segment:
    name: str
    frames: int
    start_ms: int
    end_ms: int
    sha256: str
    bytes: int


def _inspect(path: Path) -> _Segment:
    """Count a segment's readable frames and their span (blocking)."""
    frames, first, last = 0, None, None
    try:
        with av.open(str(path)) as container:
            if container.streams:
                for packet in container.demux(container.streams[0]):
                    if packet.pts is None:
                        continue
                    at = round(float(packet.pts * packet.time_base) * 1000)
                    first = at if first is None else first
                    last, frames = at, frames + 1
    except (av.FFmpegError, OSError, ValueError):
        pass  # whatever was read before the damage counts
    return _Segment(
        path.name, frames, first or 0, last or 0, sha256_file(path), path.stat().st_size
    )


def _recover_chain(folder: Path, session_id: str) -> tuple[HashChain, list[_Segment], list[str]]:
    """Chain the segments left open by the crash; set aside the empty ones (blocking)."""
    path = folder / CHAIN_FILE
    log = ChainLog.resume(folder) if path.is_file() else ChainLog(folder, session_id)
    chained = {entry.file for entry in log.chain.entries}
    recovered: list[_Segment] = []
    empty: list[str] = []
    try:
        for file in sorted(p for p in folder.iterdir() if SEGMENT_RE.match(p.name)):
            if file.name in chained:
                continue
            segment = _inspect(file)
            if segment.frames == 0:
                file.rename(file.with_name(file.name + ".empty"))
                empty.append(file.name)
                continue
            log.add(segment.name, segment.sha256, segment.bytes)
            recovered.append(segment)
    finally:
        log.close()
    chain = log.chain
    return chain, recovered, empty


async def close_interrupted_part(
    db: Database, recordings_dir: Path, session_id: str, key: Ed25519PrivateKey
) -> None:
    """Chain and sign the recording part a crash left open (no-op if already signed)."""
    detail = await db.get_session(session_id)
    part = max(detail.session.recording_parts, 1)
    folder = part_directory(recordings_dir, session_id, part)
    if not folder.is_dir() or (folder / MANIFEST_FILE).is_file():
        return
    chain, recovered, empty = await asyncio.to_thread(_recover_chain, folder, session_id)
    prefix = "" if part == 1 else f"{part_folder(part)}/"
    for segment in recovered:
        match = SEGMENT_RE.match(segment.name)
        assert match is not None
        await db.save_recording_file(
            session_id,
            party=match[1],
            kind=match[2],
            seq=int(match[3]),
            path=f"{session_id}/{prefix}{segment.name}",
            codec="vp8" if match[2] == "video" else "opus",
            bytes=segment.bytes,
            sha256=segment.sha256,
            frames=segment.frames,
            start_ms=segment.start_ms,
            end_ms=segment.end_ms,
            closed=True,
            part=part,
        )
    detail = await db.get_session(session_id)
    interrupted: dict[str, Any] = {
        "closed_at": datetime.now(UTC).isoformat(),
        "reason": detail.session.end_reason,
        "recovered": [segment.name for segment in recovered],
        "empty": empty,
    }
    manifest = session_manifest(detail, part) | {"interrupted": interrupted}
    signed = sign_manifest(manifest, chain, key)
    await asyncio.to_thread(write_signed_manifest, folder, signed)
    logger.warning(
        "session %s: interrupted part %d closed (%d open segments chained, %d empty)",
        session_id,
        part,
        len(recovered),
        len(empty),
    )
