"""What a recording part's signed manifest says of its session, read from the database."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from .views import SessionDetail


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
                "file": PurePosixPath(f.path).name,
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
        "workflow": [e.record() for e in detail.events],
    }
