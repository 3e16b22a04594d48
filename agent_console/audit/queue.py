"""The auditor's review queue, and the decision on each flag of a part.

Parts enter the queue when their inspection is saved (``storage.review_queue``); the
auditor opens one from the queue, replays it with its flags on the timeline, and
confirms or overrules each flag there. The part leaves the queue with its last flag.
"""

from __future__ import annotations

from aiohttp import web

from signaling.webauth import USER

from ..keys import DATABASE
from ..rendering import render
from .access import auditor, form_with_csrf, load, local_time, log
from .flags import VERDICT_WORDS, words

routes = web.RouteTableDef()

#: Why a part is queued, in both languages.
REASON_WORDS = {"flagged": "质检标记 flagged", "sampled": "抽检 sampled"}


@routes.get("/audit/queue")
@auditor
async def queue_page(request: web.Request) -> web.Response:
    """The parts awaiting review, oldest first, with their verdict and flags."""
    queue = await request.app[DATABASE].review_queue()
    await log(request, "review_queue", "queue", waiting=len(queue))
    return render(
        request,
        "audit_queue.html",
        queue=queue,
        words=words,
        verdict_words=VERDICT_WORDS,
        reason_words=REASON_WORDS,
        local=local_time(request),
    )


@routes.post("/audit/sessions/{id}/flags")
@auditor
async def decide_flag(request: web.Request) -> web.Response:
    """Confirm or overrule one flag of a part (a reason is required to overrule)."""
    form = await form_with_csrf(request)
    detail = await load(request)
    raw = form.get("part", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise web.HTTPBadRequest(text=f'"part" must be a whole number, got {raw[:20]!r}')
    part, check = int(raw), form.get("check", "")
    made = await request.app[DATABASE].decide_flag(
        detail.session.id,
        part,
        check,
        decision=form.get("decision", ""),
        reason=form.get("reason", ""),
        reviewer=request[USER].name,
    )
    await log(
        request,
        "flag_review",
        detail.session.id,
        part=part,
        check=check,
        decision=str(made.decision),
        review=made.id,
    )
    raise web.HTTPSeeOther(f"/audit/sessions/{detail.session.id}?part={part}#inspection")
