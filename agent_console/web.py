"""The browser console pages: sign-in, the agent's workspace, supervision, sessions.

The agent's workspace is one page (``agent.html`` + ``static/console.js``) that talks to
the signalling WebSocket with the page's sign-in cookie; the server-side pages here only
check who may see what (every route names its roles) and serve the evidence files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from common import RecordingLayout, Role
from signaling.accounts import staff_sign_in
from signaling.overview import LiveCalls
from signaling.throttle import SIGN_IN_THROTTLE, TooManyAttempts
from signaling.webauth import (
    USER,
    check_csrf,
    check_pre_sign_in,
    require,
    sign_in,
    sign_out,
)
from storage import SessionDetail, access_log

from .keys import DATABASE, LIVE_CALLS, RECORDINGS_DIR
from .media_views import log_media_view
from .rendering import render

#: Where each role lands after signing in.
HOME = {
    Role.AGENT: "/console",
    Role.SUPERVISOR: "/console",
    Role.AUDITOR: "/audit",
    Role.ADMIN: "/admin",
}
#: Who may fetch a session's evidence files (an agent only while in that session's call).
EVIDENCE_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR)
STATIC = Path(__file__).resolve().parent / "static"

routes = web.RouteTableDef()


@routes.get("/console/login")
async def login_page(request: web.Request) -> web.Response:
    """The staff sign-in form."""
    return render(request, "login.html", error=None, name="")


@routes.post("/console/login")
async def login(request: web.Request) -> web.Response:
    """Sign a member of staff in with their name and password (throttled, see accounts)."""
    check_pre_sign_in(request)
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    try:
        user = await staff_sign_in(
            request.app[DATABASE], request.app[SIGN_IN_THROTTLE], name, password, request.remote
        )
    except TooManyAttempts as exc:
        response = render(request, "login.html", status=429, error=exc.page_text(), name="")
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    if user is None:
        return render(
            request,
            "login.html",
            status=401,
            error="The name or the password is wrong. 用户名或密码错误。",
            name=name[:100],
        )
    response = web.HTTPSeeOther(HOME[user.role])
    await sign_in(response, request, user)
    raise response


@routes.post("/console/logout")
@require(*Role.staff())
async def logout(request: web.Request) -> web.Response:
    """Sign out and go back to the sign-in form."""
    form = await request.post()
    check_csrf(request, form.get("csrf"))
    user = request[USER]
    await access_log.append(request.app[DATABASE], user.name, user.role, "logout", "console")
    response = web.HTTPSeeOther("/console/login")
    await sign_out(response, request, user)
    raise response


@routes.get("/console")
@require(Role.AGENT, Role.SUPERVISOR)
async def console_home(request: web.Request) -> web.Response:
    """An agent's workspace; a supervisor's dashboard of the queue and sessions."""
    live = request.app[LIVE_CALLS]
    if request[USER].role == Role.AGENT:
        return render(request, "agent.html", services=live.service_titles())
    sessions = await request.app[DATABASE].list_sessions(limit=50)
    return render(
        request, "dashboard.html", queue=live.waiting(), active=live.calls(), sessions=sessions
    )


@routes.get("/console/supervisor")
@require(Role.SUPERVISOR, Role.ADMIN)
async def supervisor_page(request: web.Request) -> web.Response:
    """The live supervision page (it polls the overview)."""
    return render(request, "supervisor.html")


@routes.get("/console/api/overview")
@require(Role.SUPERVISOR, Role.ADMIN, api=True)
async def overview(request: web.Request) -> web.Response:
    """Agents with their presence, the queue and the calls in progress (JSON)."""
    return web.json_response(live_overview(request.app[LIVE_CALLS]))


@routes.get("/console/sessions/{id}")
@require(*Role.staff())
async def session_page(request: web.Request) -> web.Response:
    """One session: its recording parts, workflow timeline and evidence.

    An agent sees only the sessions they took (or hold for a resume); supervisors,
    auditors and admins see any.
    """
    session_id = request.match_info["id"]
    user = request[USER]
    detail = await request.app[DATABASE].get_session(session_id)
    if user.role == Role.AGENT and user.name not in (
        detail.session.agent_name,
        await request.app[LIVE_CALLS].agent_of(session_id),
    ):
        raise web.HTTPForbidden(text="an agent sees the sessions of their own calls only")
    parts = max(detail.session.recording_parts, 1)
    try:
        part = int(request.query.get("part", parts))
    except ValueError:
        raise web.HTTPBadRequest(text='"part" must be a whole number') from None
    if not 1 <= part <= parts:
        raise web.HTTPNotFound(text=f"the recording has parts 1 to {parts}")
    await access_log.append(
        request.app[DATABASE], user.name, user.role, "view", detail.session.id, {"part": part}
    )
    return render(
        request,
        "session.html",
        s=detail.session,
        events=detail.events,
        evidence=detail.evidence,
        part=part,
        parts=parts,
        **session_figures(detail, part),
    )


@routes.get(r"/console/sessions/{id}/evidence/{seq:\d+}")
@require(*EVIDENCE_ROLES, api=True)
async def evidence_file(request: web.Request) -> web.StreamResponse:
    """One evidence file of a session (signature PNG, ID photo JPEG, JSON record)."""
    session_id = request.match_info["id"]
    try:
        seq = int(request.match_info["seq"])
    except ValueError:
        raise web.HTTPNotFound(text="no such evidence") from None
    user = request[USER]
    if user.role == Role.AGENT and await request.app[LIVE_CALLS].agent_of(session_id) != user.name:
        raise web.HTTPForbidden(text="an agent sees the evidence of their own call only")
    detail = await request.app[DATABASE].get_session(session_id)
    item = next((e for e in detail.evidence if e.seq == seq), None)
    if item is None or item.file is None:
        raise web.HTTPNotFound(text="no such evidence file")
    root = request.app[RECORDINGS_DIR].resolve()
    path = (RecordingLayout(session_id, item.part).directory(root) / item.file).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(text="the evidence file is missing")
    await log_media_view(request, session_id, f"evidence {seq}", item.part, evidence=seq)
    # Cache-Control: no-store and nosniff come with every response (dualrec.security_headers).
    return web.FileResponse(path)


def live_overview(live: LiveCalls) -> dict[str, Any]:
    """What a supervisor sees: agents and their presence, the queue, the calls under way."""
    return {
        "agents": live.agents(),
        "queue": live.waiting(),
        "calls": [call.to_json() for call in live.calls()],
    }


def session_figures(detail: SessionDetail, part: int = 1) -> dict[str, Any]:
    """Per-track totals and one recording part's workflow timeline (as % of it)."""
    tracks: dict[str, dict[str, Any]] = {}
    for f in detail.part_files(part):
        t = tracks.setdefault(
            f"{f.party} {f.kind}",
            {"segments": 0, "frames": 0, "bytes": 0, "start_ms": f.start_ms, "end_ms": f.end_ms},
        )
        t["segments"] += 1
        t["frames"] += f.frames
        t["bytes"] += f.bytes
        t["start_ms"] = min(t["start_ms"], f.start_ms)
        t["end_ms"] = max(t["end_ms"], f.end_ms)
    total = max([t["end_ms"] for t in tracks.values()] or [0]) or 1
    events = [e for e in detail.events if e.offset_ms is not None and (e.part or 1) == part]
    earlier = [e for e in detail.events if (e.part or 1) < part]
    # The step in force when the part's recording started, then one entry per transition.
    first = events[0].source if events else detail.session.workflow_state
    if not events and earlier:
        first = earlier[-1].target
    marks = [(first, "start", 0)] + [(e.target, e.event, e.offset_ms or 0) for e in events]
    steps = []
    for i, (name, event, offset) in enumerate(marks):
        end = marks[i + 1][2] if i + 1 < len(marks) else total
        steps.append(
            {
                "name": name,
                "event": event,
                "offset_ms": offset,
                "left": 100 * offset / total,
                "width": max(0.5, 100 * (end - offset) / total),
            }
        )
    bars = [
        {
            "name": name,
            "left": 100 * t["start_ms"] / total,
            "width": max(0.5, 100 * (t["end_ms"] - t["start_ms"]) / total),
            **t,
        }
        for name, t in sorted(tracks.items())
    ]
    return {"tracks": bars, "steps": steps, "total_ms": total}
