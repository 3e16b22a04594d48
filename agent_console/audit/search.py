"""The auditor's search of sessions: by date, branch, agent, service, customer, status,
inspection verdict and failed check."""

from __future__ import annotations

from aiohttp import web

from storage import SessionView, audit

from ..keys import DATABASE, TIMEZONE
from ..rendering import render
from .access import auditor, form_with_csrf, local_time, log
from .flags import CHECKS, VERDICT_WORDS, words

routes = web.RouteTableDef()


@routes.get("/audit")
@routes.post("/audit")
@auditor
async def search_page(request: web.Request) -> web.Response:
    """The search form and one page of results (a bad filter is answered 400)."""
    # The form is posted, so that an ID number typed in never shows in a URL (nor in
    # the server's request log or the browser's history); paging links use GET.
    query = dict(request.query)
    if request.method == "GET" and "customer" in query:
        # Refused, not ignored, so a link or bookmark with an ID number in it stops working;
        # the value is not echoed (``dualrec.request_log`` does not write queries either).
        raise web.HTTPBadRequest(text="search by customer with the form only (it is posted)")
    if request.method == "POST":
        form = await form_with_csrf(request)
        query = {k: v for k, v in form.items() if k != "csrf"}
    db = request.app[DATABASE]
    # The checks the pages know, and any other the inspection has flagged since.
    checks = sorted(set(CHECKS) | set(await db.check_names()))
    filters = audit.SearchFilters.from_query(query, checks)
    page = await audit.search(db, filters, timezone=request.app[TIMEZONE])
    inspected = await db.session_verdicts([s.id for s in page.sessions])
    choices = await audit.facets(db)
    await log(request, "search", "sessions", **filters.described(), results=page.total)
    longest = max([duration_s(s) for s in page.sessions] or [1.0]) or 1.0
    values = {k: v for k, v in query.items() if k != "customer" and v}
    return render(
        request,
        "audit_search.html",
        page=page,
        filters=filters,
        values=values,
        choices=choices,
        longest=longest,
        duration=duration_s,
        mask=audit.mask_last4,
        local=local_time(request),
        statuses=[str(s) for s in audit.ReviewStatus],
        inspected=inspected,
        inspections=audit.INSPECTION_CHOICES,
        checks=checks,
        words=words,
        verdict_words=VERDICT_WORDS,
    )


def duration_s(s: SessionView) -> float:
    """How long a session's call lasted, in seconds (0 if it did not end)."""
    if s.started_at is None or s.ended_at is None:
        return 0.0
    return max((s.ended_at - s.started_at).total_seconds(), 0.0)
