"""The compliance auditor's console: search, replay, review, legal hold and export.

Every search, replay, track played, review, hold and export is written to the access log
(``storage.access_log``) with who and when. The customer's ID number is never shown: pages,
log details and exported summaries carry at most its last four characters.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dualrec.settings import Settings
from media import load_or_create_signing_key, public_key_pem
from media.verify import VerifyReport
from signaling.webauth import USER, check_csrf, require
from storage import (
    Database,
    NotFound,
    SessionDetail,
    SessionView,
    StorageError,
    access_log,
    audit,
)
from storage.objectstore import RecordingStore
from workflow import mask_id

from .export import build_package, package_name
from .replay import PARTIES, RecordingCache, part_prefix
from .web import TEMPLATES, render, session_figures

logger = logging.getLogger(__name__)

AUDIT_CACHE = web.AppKey("audit_cache", RecordingCache)
TRUSTED_KEY = web.AppKey("audit_trusted_key", Ed25519PublicKey)
_LONG_NUMBER = re.compile(r"\b\d{6,}[0-9Xx]*\b")
_MAX_HOLD_REASON = 500
auditor = require("auditor")


def redact(text: str) -> str:
    """Free text with any long number (an ID number, say) masked to its last four."""
    return _LONG_NUMBER.sub(lambda m: mask_id(m.group()), text)


def customer_masked(detail: SessionDetail) -> str:
    """The customer's ID number as pages show it: ``**************1234``."""
    s = detail.session
    if s.customer_id_last4:
        return audit.mask_last4(s.customer_id_last4)
    number = s.workflow_context.get("id_number")
    return mask_id(number) if isinstance(number, str) else "—"


def _part(request: web.Request, detail: SessionDetail) -> int:
    parts = max(detail.session.recording_parts, 1)
    raw = request.query.get("part", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise web.HTTPBadRequest(text=f'"part" must be a whole number, got {raw[:20]!r}')
    part = int(raw)
    if not 1 <= part <= parts:
        raise web.HTTPNotFound(text=f"the recording has parts 1 to {parts}")
    return part


def _facts(detail: SessionDetail) -> dict[str, Any]:
    """The suitability facts of the context worth showing (never the ID number)."""
    context = detail.session.workflow_context
    keys = ("risk_level", "risk_score", "product_code", "product_name", "product_risk")
    facts = {k: context[k] for k in (*keys, "purchase_amount") if k in context}
    suitability = context.get("suitability")
    return {"facts": facts, "suitability": suitability if isinstance(suitability, dict) else None}


def setup_audit(
    app: web.Application,
    *,
    database: web.AppKey[Database],
    recordings: web.AppKey[RecordingStore],
    settings: web.AppKey[Settings],
) -> None:
    """Register the ``/audit`` pages; database, recording store and settings come by key."""

    async def resources(app: web.Application) -> AsyncIterator[None]:
        root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="dualrec-audit-"))
        key = await asyncio.to_thread(load_or_create_signing_key, app[settings].signing_key_path)
        app[AUDIT_CACHE] = RecordingCache(app[recordings], root)
        app[TRUSTED_KEY] = key.public_key()
        yield
        await asyncio.to_thread(app[AUDIT_CACHE].clear)

    app.cleanup_ctx.append(resources)

    def local_time(request: web.Request) -> Callable[[datetime], datetime]:
        zone = ZoneInfo(request.app[settings].timezone)
        return lambda moment: moment.astimezone(zone)

    async def log(request: web.Request, action: str, target: str, **detail: Any) -> None:
        user = request[USER]
        await access_log.append(request.app[database], user.name, user.role, action, target, detail)

    async def load(request: web.Request) -> SessionDetail:
        session_id = request.match_info["id"]
        if not re.fullmatch(r"[0-9a-f]{8,32}", session_id):
            raise web.HTTPBadRequest(text=f"not a session id: {session_id[:40]!r}")
        try:
            return await request.app[database].get_session(session_id)
        except NotFound:
            raise web.HTTPNotFound(text=f"no session {session_id}") from None

    async def form_with_csrf(request: web.Request) -> dict[str, str]:
        form = await request.post()
        check_csrf(request, form.get("csrf"))
        return {k: v for k, v in form.items() if isinstance(v, str)}

    async def stored(request: web.Request, key: str) -> Path:
        try:
            return await asyncio.to_thread(request.app[AUDIT_CACHE].file, key)
        except NotFound:
            raise web.HTTPNotFound(text=f"{key} is not in the recordings store") from None

    @auditor
    async def search_page(request: web.Request) -> web.Response:
        # The form is posted, so that an ID number typed in never shows in a URL (nor in
        # the server's request log or the browser's history); paging links use GET.
        query = dict(request.query)
        if request.method == "POST":
            form = await form_with_csrf(request)
            query = {k: v for k, v in form.items() if k != "csrf"}
        try:
            filters = audit.SearchFilters.from_query(query)
        except StorageError as exc:
            raise web.HTTPBadRequest(text=f"bad search: {exc}") from None
        db = request.app[database]
        page = await audit.search(db, filters, timezone=request.app[settings].timezone)
        choices = await audit.facets(db)
        await log(request, "search", "sessions", **filters.described(), results=page.total)
        longest = max([_duration_s(s) for s in page.sessions] or [1.0]) or 1.0
        values = {k: v for k, v in query.items() if k != "customer" and v}
        return render(
            request,
            "audit_search.html",
            page=page,
            filters=filters,
            values=values,
            choices=choices,
            longest=longest,
            duration=_duration_s,
            mask=audit.mask_last4,
            local=local_time(request),
            statuses=[str(s) for s in audit.ReviewStatus],
        )

    @auditor
    async def replay_page(request: web.Request) -> web.Response:
        detail = await load(request)
        part = _part(request, detail)
        s = detail.session
        cache = request.app[AUDIT_CACHE]
        prefix = part_prefix(s.id, part)
        has_composite = await asyncio.to_thread(cache.store.exists, f"{prefix}/composite.mp4")
        answers = await asyncio.to_thread(_answers, cache, detail)
        await log(request, "replay", s.id, part=part)
        return render(
            request,
            "audit_replay.html",
            s=detail.session,
            detail=detail,
            part=part,
            parts=max(s.recording_parts, 1),
            customer=customer_masked(detail),
            local=local_time(request),
            has_composite=has_composite,
            answers=answers,
            parties=PARTIES,
            verdicts=["pass", "fail", "follow_up"],
            **_facts(detail),
            **session_figures(detail, part),
        )

    async def media_file(request: web.Request, name: str, content_type: str) -> web.FileResponse:
        detail = await load(request)
        part = _part(request, detail)
        path = await stored(request, f"{part_prefix(detail.session.id, part)}/{name}")
        # FileResponse answers Range requests: the video element can seek.
        return web.FileResponse(path, headers={"Content-Type": content_type})

    @auditor
    async def composite(request: web.Request) -> web.FileResponse:
        return await media_file(request, "composite.mp4", "video/mp4")

    @auditor
    async def chapters(request: web.Request) -> web.FileResponse:
        return await media_file(request, "composite.vtt", "text/vtt; charset=utf-8")

    @auditor
    async def evidence_file(request: web.Request) -> web.FileResponse:
        detail = await load(request)
        seq = request.match_info["seq"]
        item = next((e for e in detail.evidence if str(e.seq) == seq and e.file), None)
        if item is None or item.file is None:
            raise web.HTTPNotFound(text=f"session {detail.session.id} has no evidence file {seq}")
        path = await stored(request, f"{part_prefix(detail.session.id, item.part)}/{item.file}")
        kind = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json"}
        headers = {
            "Content-Type": kind.get(path.suffix, "application/octet-stream"),
            "X-Content-Type-Options": "nosniff",
        }
        return web.FileResponse(path, headers=headers)

    @auditor
    async def integrity(request: web.Request) -> web.Response:
        detail = await load(request)
        part = _part(request, detail)
        report = await asyncio.to_thread(
            request.app[AUDIT_CACHE].verify, detail.session.id, part, request.app[TRUSTED_KEY]
        )
        return web.json_response(
            {"ok": report.ok, "signed_by": report.signed_by, "problems": report.problems}
        )

    def party_of(request: web.Request) -> str:
        party = request.match_info["party"]
        if party not in PARTIES:
            raise web.HTTPBadRequest(text=f"party must be kiosk or agent, got {party[:20]!r}")
        return party

    @auditor
    async def prepare_track(request: web.Request) -> web.Response:
        await form_with_csrf(request)
        detail = await load(request)
        part, party = _part(request, detail), party_of(request)
        try:
            await asyncio.to_thread(
                request.app[AUDIT_CACHE].party_track, detail.session.id, part, party
            )
        except NotFound as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        await log(request, "replay", detail.session.id, part=part, track=party)
        url = f"/audit/sessions/{detail.session.id}/tracks/{party}.webm?part={part}"
        return web.json_response({"url": url})

    @auditor
    async def track(request: web.Request) -> web.FileResponse:
        detail = await load(request)
        part, party = _part(request, detail), party_of(request)
        path = request.app[AUDIT_CACHE].prepared_track(detail.session.id, part, party)
        if path is None:
            raise web.HTTPNotFound(text="this track is not prepared: use the replay page")
        return web.FileResponse(path, headers={"Content-Type": "video/webm"})

    @auditor
    async def review(request: web.Request) -> web.Response:
        form = await form_with_csrf(request)
        detail = await load(request)
        try:
            made = await audit.add_review(
                request.app[database],
                detail.session.id,
                verdict=form.get("verdict", ""),
                reasons=redact(form.get("reasons", "")),
                reviewer=request[USER].name,
            )
        except StorageError as exc:
            raise web.HTTPBadRequest(text=f"review not saved: {exc}") from None
        await log(request, "review", detail.session.id, verdict=str(made.verdict), review=made.id)
        raise web.HTTPSeeOther(f"/audit/sessions/{detail.session.id}#reviews")

    @auditor
    async def legal_hold(request: web.Request) -> web.Response:
        form = await form_with_csrf(request)
        detail = await load(request)
        action, reason = form.get("action", ""), redact(form.get("reason", "").strip())
        if action not in ("set", "lift"):
            raise web.HTTPBadRequest(text=f"action must be set or lift, got {action[:20]!r}")
        if not reason or len(reason) > _MAX_HOLD_REASON:
            raise web.HTTPBadRequest(text="a legal hold needs a reason (1 to 500 characters)")
        on = action == "set"
        try:
            await audit.set_legal_hold(request.app[database], detail.session.id, on)
        except StorageError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        held = await asyncio.to_thread(_hold_objects, request.app[AUDIT_CACHE], detail, on)
        action_name = "legal_hold" if on else "legal_hold_lifted"
        await log(request, action_name, detail.session.id, reason=reason, objects=held)
        raise web.HTTPSeeOther(f"/audit/sessions/{detail.session.id}#hold")

    @auditor
    async def export(request: web.Request) -> web.FileResponse:
        await form_with_csrf(request)
        detail = await load(request)
        cache, key = request.app[AUDIT_CACHE], request.app[TRUSTED_KEY]
        parts = range(1, max(detail.session.recording_parts, 1) + 1)
        reports: dict[int, VerifyReport] = {}
        for part in parts:
            reports[part] = await asyncio.to_thread(cache.verify, detail.session.id, part, key)
        user = request[USER]
        summary = (
            request.app[TEMPLATES]
            .get_template("audit_summary.html")
            .render(
                s=detail.session,
                detail=detail,
                customer=customer_masked(detail),
                reports=reports,
                exported_by=user.name,
                exported_at=datetime.now(UTC),
                **_facts(detail),
            )
        )
        name = package_name(detail)
        out = cache.root / "exports" / f"{secrets.token_hex(6)}-{name}"
        await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(
            build_package, cache, detail, reports, summary, public_key_pem(key), out
        )
        digest = await asyncio.to_thread(_sha256, out)
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
        return web.FileResponse(out, headers=headers)

    base = "/audit/sessions/{id}"
    app.router.add_get("/audit", search_page)
    app.router.add_post("/audit", search_page)
    app.router.add_get(base, replay_page)
    app.router.add_get(base + "/composite.mp4", composite)
    app.router.add_get(base + "/composite.vtt", chapters)
    app.router.add_get(base + "/integrity", integrity)
    app.router.add_get(base + "/evidence/{seq}", evidence_file)
    app.router.add_post(base + "/tracks/{party}", prepare_track)
    app.router.add_get(base + "/tracks/{party}.webm", track)
    app.router.add_post(base + "/review", review)
    app.router.add_post(base + "/hold", legal_hold)
    app.router.add_post(base + "/export", export)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _duration_s(s: SessionView) -> float:
    if s.started_at is None or s.ended_at is None:
        return 0.0
    return max((s.ended_at - s.started_at).total_seconds(), 0.0)


def _answers(cache: RecordingCache, detail: SessionDetail) -> list[dict[str, Any]]:
    """The questionnaire answers given, read from their evidence files (blocking)."""
    out = []
    for item in detail.evidence:
        if item.kind != "questionnaire_answers" or not item.file:
            continue
        try:
            path = cache.file(f"{part_prefix(detail.session.id, item.part)}/{item.file}")
            value = json.loads(path.read_bytes()).get("value", {})
        except (LookupError, OSError, ValueError, StorageError):
            value = {}
        out.append({"step": item.step, "answers": value if isinstance(value, dict) else {}})
    return out


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
