"""Running an inspection on a finished part: the report written, chained, signed and stored.

``inspect_part`` is what the post-call job calls. It never signs over an altered part:
the part's integrity is checked against the server's key first. The report becomes
``inspection.json`` in the part's folder, its SHA-256 the next link of the part's hash
chain, and the manifest is signed again with an ``inspection`` entry naming it (the
facts it already held, the composite's included, kept as they were). Run again, it
shows the report it made, chaining and signing it only if a crash stopped it halfway.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import CHAIN_FILE, MANIFEST_FILE, RecordingLayout, sha256_file
from media import ChainLog, check_integrity
from media.archive import part_lock
from media.durable import write_durably
from media.manifest import sign_manifest, write_signed_manifest
from storage import Database
from workflow import Flow, get_flow, load_flows

from .analyse import Limits, inspect_folder
from .errors import NotInspectable
from .recording import read_manifest
from .report import REPORT_FILE, InspectionReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inspected:
    """A part's inspection: its report, and whether this run made it."""

    report: InspectionReport
    path: Path
    made: bool


def _read_report(path: Path) -> InspectionReport:
    try:
        return InspectionReport.parse(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotInspectable(path.parent, f"{REPORT_FILE} unreadable: {exc}") from exc


def _chained(folder: Path) -> bool:
    return any(e.file == REPORT_FILE for e in ChainLog.load(folder / CHAIN_FILE).entries)


def _seal(folder: Path, report: InspectionReport, key: Ed25519PrivateKey) -> None:
    """Chain the report file and sign the manifest again with it (blocking)."""
    path = folder / REPORT_FILE
    digest = sha256_file(path)
    chain = ChainLog.resume(folder)
    try:
        chain.add(REPORT_FILE, digest, path.stat().st_size)
    finally:
        chain.close()
    signed = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
    body: dict[str, Any] = {k: v for k, v in signed.items() if k not in ("signature", "chain")}
    body["inspection"] = {
        "file": REPORT_FILE,
        "sha256": digest,
        "verdict": report.verdict.value,
        "score": round(report.score, 1),
        "failed": report.failed(),
        "inspected_at": report.inspected_at,
    }
    write_signed_manifest(folder, sign_manifest(body, chain.chain, key))


def _found(folder: Path, key: Ed25519PrivateKey) -> Inspected | None:
    """The inspection the part has (sealed now if a cut run left it unchained), or None
    when it needs one; NotInspectable when it does not verify (blocking)."""
    path = folder / REPORT_FILE
    if path.is_file() and _chained(folder):
        return Inspected(_read_report(path), path, made=False)
    integrity = check_integrity(folder, trusted_public_key=key.public_key())
    if not integrity.ok:
        problems = "; ".join(integrity.problems[:3])
        raise NotInspectable(folder, f"the recording does not verify ({problems})")
    if path.is_file():  # stopped between writing and chaining the report
        report = _read_report(path)
        _seal(folder, report, key)
        return Inspected(report, path, made=False)
    return None


def _store(folder: Path, report: InspectionReport, key: Ed25519PrivateKey) -> Inspected:
    """Write the new report, chain it and sign the manifest again (blocking). The report
    returned is the one written (its figures rounded as in the file), as shown later."""
    path = folder / REPORT_FILE
    text = report.to_json()
    if not write_durably(path, text.encode("utf-8"), 0o644, replace=False):
        raise NotInspectable(folder, f"{REPORT_FILE} appeared while inspecting")
    written = InspectionReport.parse(json.loads(text))
    _seal(folder, written, key)
    return Inspected(written, path, made=True)


def inspect_folder_once(
    folder: Path, flows: Mapping[str, Flow], key: Ed25519PrivateKey, limits: Limits | None
) -> Inspected:
    """Inspect a closed part's folder, or show the inspection it has (blocking)."""
    found = _found(folder, key)
    if found is not None:
        return found
    flow = get_flow(flows, str(read_manifest(folder)["flow"]))
    return _store(folder, inspect_folder(folder, flow, limits), key)


def analyse_packaged(folder: Path, flow_name: str, limits: Limits | None) -> InspectionReport:
    """Inspect ``folder`` against the packaged flow ``flow_name`` (in a worker process:
    a ``Flow`` does not pickle, its name does)."""
    return inspect_folder(folder, get_flow(load_flows(), flow_name), limits)


async def inspect_locked(
    folder: Path,
    flows: Mapping[str, Flow],
    key: Ed25519PrivateKey,
    limits: Limits | None,
    executor: Executor | None = None,
) -> Inspected:
    """Inspect a part's folder off the event loop, holding the part's lock.

    The composite job (``media.archive.compose_part``) chains and signs under the same
    lock: neither may sign a manifest the other is rewriting. With ``executor`` (a
    process pool) the analysis runs there, when the part's flow is the packaged one:
    its decoding and numpy work would otherwise hold the GIL of the calls' event loop.
    """
    if not (folder / CHAIN_FILE).is_file():
        raise NotInspectable(folder, f"no {CHAIN_FILE}: not a recording part")
    async with part_lock(folder):
        if executor is None:
            return await asyncio.to_thread(inspect_folder_once, folder, flows, key, limits)
        found = await asyncio.to_thread(_found, folder, key)
        if found is not None:
            return found
        name = str((await asyncio.to_thread(read_manifest, folder))["flow"])
        flow = get_flow(flows, name)
        if flow != load_flows().get(name):  # not the packaged flow: judged here
            report = await asyncio.to_thread(inspect_folder, folder, flow, limits)
        else:
            loop = asyncio.get_running_loop()
            report = await loop.run_in_executor(executor, analyse_packaged, folder, name, limits)
        return await asyncio.to_thread(_store, folder, report, key)


async def inspect_part(
    db: Database | None,
    recordings_dir: Path,
    layout: RecordingLayout,
    flows: Mapping[str, Flow],
    key: Ed25519PrivateKey,
    *,
    limits: Limits | None = None,
    executor: Executor | None = None,
) -> Inspected:
    """Inspect a finished part (off the event loop), seal the report, store its summary.

    The post-call job calls this once the part's composite is made (the report is chained
    after it), with its process pool as ``executor``; run again it shows the report it
    made (``Inspected.made`` is False).
    """
    folder = layout.directory(recordings_dir)
    done = await inspect_locked(folder, flows, key, limits, executor)
    report = done.report
    if db is not None:
        await db.save_inspection(
            report.session_id,
            report.part,
            verdict=report.verdict.value,
            score=report.score,
            file=layout.path_of(REPORT_FILE),
            sha256=await asyncio.to_thread(sha256_file, done.path),
            inspected_at=datetime.fromisoformat(report.inspected_at),
            failed=report.failed(),
            needs_review=report.flagged(),
        )
    if done.made:
        logger.info(
            "session %s: part %d inspected: %s (score %.0f, %.1f s of CPU for %.0f s)",
            report.session_id,
            report.part,
            report.verdict.value,
            report.score,
            report.cpu_s,
            report.duration_s,
        )
    return done
