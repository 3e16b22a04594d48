"""Replaying a session: the page, the composite and its chapters, each party's own track,
the evidence files and the recording's integrity check."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from common import MAX_REASON_CHARS, EvidenceKind, Party
from storage import SessionDetail, StorageError, audit

from ..keys import AUDIT_CACHE, DATABASE, TRUSTED_KEY
from ..media_views import log_media_view
from ..recordings import RecordingCache, part_prefix
from ..rendering import render
from ..web import session_figures
from .access import (
    auditor,
    customer_masked,
    facts,
    form_with_csrf,
    load,
    local_time,
    log,
    requested_part,
    requested_party,
    stored,
)
from .flags import VERDICT_WORDS, read_inspection, words

BASE = "/audit/sessions/{id}"
#: The verdicts a review may give (a session starts unreviewed).
VERDICTS = [str(s) for s in audit.ReviewStatus if s != audit.ReviewStatus.UNREVIEWED]
_EVIDENCE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json"}

routes = web.RouteTableDef()


@routes.get(BASE)
@auditor
async def replay_page(request: web.Request) -> web.Response:
    """One recording part: composite, timeline with the inspection's flags, evidence,
    facts, the flags' decisions, reviews and hold."""
    detail = await load(request)
    part = requested_part(request, detail)
    s = detail.session
    cache = request.app[AUDIT_CACHE]
    prefix = part_prefix(s.id, part)
    has_composite = await asyncio.to_thread(cache.store.exists, f"{prefix}/composite.mp4")
    answers = await asyncio.to_thread(_answers, cache, detail)
    figures = session_figures(detail, part)
    db = request.app[DATABASE]
    summary = await db.get_inspection(s.id, part)
    inspected = None
    if summary is not None:
        inspected = await asyncio.to_thread(read_inspection, cache, summary, figures["total_ms"])
    flags, awaiting = await db.part_flags(s.id, part)
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
        parties=list(Party),
        verdicts=VERDICTS,
        inspected=inspected,
        flags=flags,
        awaiting=awaiting,
        words=words,
        verdict_words=VERDICT_WORDS,
        max_reason=MAX_REASON_CHARS,
        **facts(detail),
        **figures,
    )


async def _media_file(
    request: web.Request, name: str, content_type: str, media: str
) -> web.FileResponse:
    detail = await load(request)
    part = requested_part(request, detail)
    path = await stored(request, f"{part_prefix(detail.session.id, part)}/{name}")
    await log_media_view(request, detail.session.id, media, part)
    # FileResponse answers Range requests: the video element can seek.
    return web.FileResponse(path, headers={"Content-Type": content_type})


@routes.get(BASE + "/composite.mp4")
@auditor
async def composite(request: web.Request) -> web.FileResponse:
    """The part's composite video (both parties side by side)."""
    return await _media_file(request, "composite.mp4", "video/mp4", "composite")


@routes.get(BASE + "/composite.vtt")
@auditor
async def chapters(request: web.Request) -> web.FileResponse:
    """The composite's chapters: one per workflow step."""
    return await _media_file(request, "composite.vtt", "text/vtt; charset=utf-8", "chapters")


@routes.get(BASE + "/evidence/{seq}")
@auditor
async def evidence_file(request: web.Request) -> web.FileResponse:
    """One evidence file (signature, ID photo, JSON record) as stored."""
    detail = await load(request)
    seq = request.match_info["seq"]
    item = next((e for e in detail.evidence if str(e.seq) == seq and e.file), None)
    if item is None or item.file is None:
        raise web.HTTPNotFound(text=f"session {detail.session.id} has no evidence file {seq}")
    path = await stored(request, f"{part_prefix(detail.session.id, item.part)}/{item.file}")
    await log_media_view(
        request, detail.session.id, f"evidence {item.seq}", item.part, kind=item.kind
    )
    content_type = _EVIDENCE_TYPES.get(path.suffix, "application/octet-stream")
    return web.FileResponse(path, headers={"Content-Type": content_type})


@routes.get(BASE + "/integrity")
@auditor
async def integrity(request: web.Request) -> web.Response:
    """``dualrec verify`` of the part, against the server's own key (JSON)."""
    detail = await load(request)
    part = requested_part(request, detail)
    report = await asyncio.to_thread(
        request.app[AUDIT_CACHE].verify, detail.session.id, part, request.app[TRUSTED_KEY]
    )
    return web.json_response(
        {"ok": report.ok, "signed_by": report.signed_by, "problems": report.problems}
    )


@routes.post(BASE + "/tracks/{party}")
@auditor
async def prepare_track(request: web.Request) -> web.Response:
    """Remux one party's track of the part; answers the URL to play it from."""
    await form_with_csrf(request)
    detail = await load(request)
    part, party = requested_part(request, detail), requested_party(request)
    await asyncio.to_thread(request.app[AUDIT_CACHE].party_track, detail.session.id, part, party)
    await log(request, "replay", detail.session.id, part=part, track=party)
    url = f"/audit/sessions/{detail.session.id}/tracks/{party}.webm?part={part}"
    return web.json_response({"url": url})


@routes.get(BASE + "/tracks/{party}.webm")
@auditor
async def track(request: web.Request) -> web.FileResponse:
    """One party's track, once prepared."""
    detail = await load(request)
    part, party = requested_part(request, detail), requested_party(request)
    path = request.app[AUDIT_CACHE].prepared_track(detail.session.id, part, party)
    if path is None:
        raise web.HTTPNotFound(text="this track is not prepared: use the replay page")
    await log_media_view(request, detail.session.id, f"track {party}", part)
    return web.FileResponse(path, headers={"Content-Type": "video/webm"})


def _answers(cache: RecordingCache, detail: SessionDetail) -> list[dict[str, Any]]:
    """The questionnaire answers given, read from their evidence files (blocking)."""
    out = []
    for item in detail.evidence:
        if item.kind != EvidenceKind.QUESTIONNAIRE_ANSWERS or not item.file:
            continue
        try:
            path = cache.file(f"{part_prefix(detail.session.id, item.part)}/{item.file}")
            value = json.loads(path.read_bytes()).get("value", {})
        except (LookupError, OSError, ValueError, StorageError):
            # An unreadable file shows as no answers; the integrity check reports it.
            value = {}
        out.append({"step": item.step, "answers": value if isinstance(value, dict) else {}})
    return out
