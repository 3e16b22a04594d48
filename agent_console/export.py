"""The evidence package an auditor exports: one zip a regulator can check on its own.

Layout (``<id>`` is the session id)::

    summary.html                  what the package holds, for people (ID masked)
    recording/<id>/...            each part's folder as stored: segments, composite,
                                  evidence files, manifest.json (signed) and chain.jsonl
    recording/<id>/manifest.sig   the manifest's detached Ed25519 signature block
    evidence/index.json + files   the evidence items and their files
    workflow-log.json             the workflow events (ID numbers masked)
    verify-report.json / .txt     ``dualrec verify`` of every part
    signing-key.pub.pem           the server key the manifests must be signed by

``dualrec verify recording/<id>`` checks the extracted recording.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from media.verify import VerifyReport, format_report
from storage import SessionDetail
from workflow import mask_id

from .recordings import RecordingCache, part_prefix

_ID_KEYS = frozenset({"id_number"})


def masked(value: Any, id_number: str | None) -> Any:
    """``value`` with every ID number (by key, or the customer's anywhere) masked."""
    if isinstance(value, Mapping):
        return {
            k: mask_id(v) if k in _ID_KEYS and isinstance(v, str) else masked(v, id_number)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [masked(v, id_number) for v in value]
    if isinstance(value, str) and id_number and id_number in value:
        return value.replace(id_number, mask_id(id_number))
    return value


def workflow_log(detail: SessionDetail) -> list[dict[str, Any]]:
    """The session's workflow events for the package, without their context snapshots."""
    number = detail.session.workflow_context.get("id_number")
    return [
        e.record() | {"data": masked(e.data, number if isinstance(number, str) else None)}
        for e in detail.events
    ]


def package_name(detail: SessionDetail) -> str:
    """The zip's file name: service, date and session id."""
    s = detail.session
    day = (s.started_at or s.created_at).strftime("%Y%m%d")
    return f"dualrec-evidence-{s.service}-{day}-{s.id}.zip"


def build_package(
    cache: RecordingCache,
    detail: SessionDetail,
    reports: Mapping[int, VerifyReport],
    summary_html: str,
    key_pem: bytes,
    out_path: Path,
) -> Path:
    """Write the evidence package of ``detail`` to ``out_path`` (blocking)."""
    s = detail.session
    parts = max(s.recording_parts, 1)
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("summary.html", summary_html)
        for part in range(1, parts + 1):
            prefix = part_prefix(s.id, part)
            try:
                names = cache.chained_files(s.id, part)
            except LookupError:
                continue
            for name in names:
                # Media is already compressed: stored as is.
                kind = zipfile.ZIP_STORED if name.endswith((".webm", ".mp4")) else None
                z.write(cache.file(f"{prefix}/{name}"), f"recording/{prefix}/{name}", kind)
            if "manifest.json" in names:
                manifest = json.loads(cache.file(f"{prefix}/manifest.json").read_bytes())
                signature = manifest.get("signature", {})
                z.writestr(f"recording/{prefix}/manifest.sig", json.dumps(signature, indent=2))
        index = []
        for item in detail.evidence:
            entry = {
                "seq": item.seq,
                "part": item.part,
                "step": item.step,
                "kind": item.kind,
                "file": item.file,
                "sha256": item.sha256,
                "offset_ms": item.offset_ms,
                "at": item.at.isoformat(),
                "provided_by": item.provided_by,
            }
            if item.file:
                key = f"{part_prefix(s.id, item.part)}/{item.file}"
                try:
                    z.write(cache.file(key), f"evidence/{item.file}")
                except LookupError:
                    entry["missing"] = True
            index.append(entry)
        z.writestr("evidence/index.json", json.dumps(index, indent=2, ensure_ascii=False))
        z.writestr(
            "workflow-log.json", json.dumps(workflow_log(detail), indent=2, ensure_ascii=False)
        )
        z.writestr(
            "verify-report.json",
            json.dumps({str(p): r.to_dict() for p, r in reports.items()}, indent=2),
        )
        z.writestr(
            "verify-report.txt",
            "\n\n".join(f"part {p}\n{format_report(r)}" for p, r in reports.items()) + "\n",
        )
        z.writestr("signing-key.pub.pem", key_pem)
    return out_path
