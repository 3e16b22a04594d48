"""What an auditor does to a session: review it, put it under legal hold, export it."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from common import MAX_REASON_CHARS, redact, sha256_file
from media import public_key_pem
from media.verify import VerifyReport
from signaling.webauth import USER
from storage import SessionDetail, audit

from ..export import build_package, package_name
from ..keys import AUDIT_CACHE, DATABASE, TRUSTED_KEY
from ..recordings import RecordingCache, part_prefix
from ..rendering import TEMPLATES
from .access import auditor, customer_masked, facts, form_with_csrf, load, log

logger = logging.getLogger(__name__)

BASE = "/audit/sessions/{id}"
# Bytes read and sent at a time when streaming an evidence package.
_CHUNK = 1 << 20

routes = web.RouteTableDef()


@routes.post(BASE + "/review")
@auditor
async def review(request: web.Request) -> web.Response:
    """Record a verdict with its reasons (bounded, ID numbers masked, by storage)."""
    form = await form_with_csrf(request)
    detail = await load(request)
    made = await audit.add_review(
        request.app[DATABASE],
        detail.session.id,
        verdict=form.get("verdict", ""),
        reasons=form.get("reasons", ""),
        reviewer=request[USER].name,
    )
    await log(request, "review", detail.session.id, verdict=str(made.verdict), review=made.id)
    raise web.HTTPSeeOther(f"/audit/sessions/{detail.session.id}#reviews")


@routes.post(BASE + "/hold")
@auditor
async def legal_hold(request: web.Request) -> web.Response:
    """Set or lift a legal hold, with a reason; on the stored objects too where possible."""
    form = await form_with_csrf(request)
    detail = await load(request)
    action, reason = form.get("action", ""), form.get("reason", "").strip()
    if action not in ("set", "lift"):
        raise web.HTTPBadRequest(text=f"action must be set or lift, got {action[:20]!r}")
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise web.HTTPBadRequest(
            text=f"a legal hold needs a reason (1 to {MAX_REASON_CHARS} characters)"
        )
    # Kept in the access log: ID numbers typed into it masked first.
    reason = redact(reason)
    on = action == "set"
    await audit.set_legal_hold(request.app[DATABASE], detail.session.id, on)
    held = await asyncio.to_thread(_hold_objects, request.app[AUDIT_CACHE], detail, on)
    action_name = "legal_hold" if on else "legal_hold_lifted"
    await log(request, action_name, detail.session.id, reason=reason, objects=held)
    raise web.HTTPSeeOther(f"/audit/sessions/{detail.session.id}#hold")


@routes.post(BASE + "/export")
@auditor
async def export(request: web.Request) -> web.StreamResponse:
    """The session's evidence package (a zip a regulator can check on its own).

    The zip is built in the cache, then unlinked as soon as it is open for sending: it
    leaves no copy behind, whether the download completes or not.
    """
    await form_with_csrf(request)
    detail = await load(request)
    cache, key = request.app[AUDIT_CACHE], request.app[TRUSTED_KEY]
    parts = range(1, max(detail.session.recording_parts, 1) + 1)
    reports: dict[int, VerifyReport] = {}
    for part in parts:
        reports[part] = await asyncio.to_thread(cache.verify, detail.session.id, part, key)
    summary = (
        request.app[TEMPLATES]
        .get_template("audit_summary.html")
        .render(
            s=detail.session,
            detail=detail,
            customer=customer_masked(detail),
            reports=reports,
            exported_by=request[USER].name,
            exported_at=datetime.now(UTC),
            **facts(detail),
        )
    )
    name = package_name(detail)
    out = cache.root / "exports" / f"{secrets.token_hex(6)}-{name}"
    await asyncio.to_thread(out.parent.mkdir, mode=0o700, parents=True, exist_ok=True)
    try:
        await asyncio.to_thread(
            build_package, cache, detail, reports, summary, public_key_pem(key), out
        )
        digest = await asyncio.to_thread(sha256_file, out)
        package = await asyncio.to_thread(_open_unlinked, out)
    finally:
        await asyncio.to_thread(out.unlink, missing_ok=True)
    await log(
        request,
        "export",
        detail.session.id,
        file=name,
        sha256=digest,
        verified=all(r.ok for r in reports.values()),
    )
    headers = {
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    with package:
        response = web.StreamResponse(headers=headers)
        response.content_length = os.fstat(package.fileno()).st_size
        await response.prepare(request)
        while chunk := await asyncio.to_thread(package.read, _CHUNK):
            await response.write(chunk)
        await response.write_eof()
    return response


def _open_unlinked(path: Path) -> BinaryIO:
    """``path`` open for reading and already removed: the open file is its only copy."""
    package = path.open("rb")
    path.unlink()
    return package


def _hold_objects(cache: RecordingCache, detail: SessionDetail, on: bool) -> int:
    """Apply the hold to the stored objects too, where the store can (S3 Object Lock)."""
    setter = getattr(cache.store, "set_legal_hold", None)
    if setter is None:
        return 0
    count = 0
    for part in range(1, max(detail.session.recording_parts, 1) + 1):
        prefix = part_prefix(detail.session.id, part)
        try:
            names = cache.chained_files(detail.session.id, part)
        except LookupError:
            continue
        for name in names:
            setter(f"{prefix}/{name}", on)
            count += 1
    logger.info("session %s: legal hold %s on %d objects", detail.session.id, on, count)
    return count
