"""The browser console pages: sign-in, the agent's workspace, supervision, sessions.

The agent's workspace is one page (``agent.html`` + ``static/console.js``) that talks to
the signalling WebSocket with the page's sign-in cookie; the server-side pages here only
check who may see what (every route names its roles) and serve the evidence files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from browser import page_vocabulary
from signaling.webauth import USER, WebUser, check_csrf, require, sign_in, sign_out
from storage import Database, NotFound, access_log

#: Roles that may use the console pages (kiosk devices may not).
CONSOLE_ROLES = frozenset({"agent", "supervisor", "auditor", "admin"})
#: Where each role lands after signing in.
HOME = {"agent": "/console", "supervisor": "/console", "auditor": "/audit", "admin": "/admin"}
#: Who may fetch a session's evidence files (an agent only while in that session's call).
EVIDENCE_ROLES = ("agent", "supervisor", "auditor")
STATIC = Path(__file__).resolve().parent / "static"
#: The workspace's scripts, styles, media and socket all come from this server.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

TEMPLATES = web.AppKey("console_templates", jinja2.Environment)


def render(
    request: web.Request, template_name: str, status: int = 200, **context: Any
) -> web.Response:
    """A console template as an HTML response, with the signed-in user in its context."""
    template = request.app[TEMPLATES].get_template(template_name)
    context.setdefault("user", request.get(USER))
    return web.Response(
        text=template.render(**context), status=status, content_type="text/html", charset="utf-8"
    )


def setup_console(
    app: web.Application, *, database: web.AppKey[Database], centre: web.AppKey[Any]
) -> None:
    """Register the console routes on ``app``; the database and call centre come by key."""
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("agent_console", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app[TEMPLATES].globals["vocabulary"] = page_vocabulary()
    app[TEMPLATES].filters["ms"] = format_ms
    signed_in = require(*CONSOLE_ROLES)

    async def login_page(request: web.Request) -> web.Response:
        return render(request, "login.html", error=None, name="")

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        credential = None
        if name and password and len(password) <= 1000:
            credential = await request.app[database].check_password(name, password)
        if credential is None or credential.role not in CONSOLE_ROLES:
            # The same answer for an unknown name and a wrong password.
            await access_log.append(
                request.app[database], name[:100] or "?", "unknown", "login_failed", "console"
            )
            return render(
                request,
                "login.html",
                status=401,
                error="The name or the password is wrong. 用户名或密码错误。",
                name=name[:100],
            )
        user = WebUser(credential.name, str(credential.role), credential.branch)
        await access_log.append(request.app[database], user.name, user.role, "login", "console")
        response = web.HTTPSeeOther(HOME[user.role])
        sign_in(response, request, user)
        raise response

    @signed_in
    async def logout(request: web.Request) -> web.Response:
        form = await request.post()
        check_csrf(request, form.get("csrf"))
        user = request[USER]
        await access_log.append(request.app[database], user.name, user.role, "logout", "console")
        response = web.HTTPSeeOther("/console/login")
        sign_out(response, request, user)
        raise response

    @require("agent", "supervisor")
    async def console_home(request: web.Request) -> web.Response:
        """An agent's workspace; a supervisor's dashboard of the queue and sessions."""
        live = request.app[centre]
        if request[USER].role == "agent":
            services = {
                name: {"zh-CN": flow.title["zh-CN"], "en": flow.title["en"]}
                for name, flow in live.flows.items()
            }
            response = render(request, "agent.html", services=services)
            response.headers["Content-Security-Policy"] = PAGE_POLICY
            return response
        sessions = await request.app[database].list_sessions(limit=50)
        queue = live.queue_state().waiting
        active = [s for s in live.sessions.values() if s.agent is not None]
        return render(request, "dashboard.html", queue=queue, active=active, sessions=sessions)

    @require("supervisor", "admin")
    async def supervisor_page(request: web.Request) -> web.Response:
        response = render(request, "supervisor.html")
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        return response

    @require("supervisor", "admin", api=True)
    async def overview(request: web.Request) -> web.Response:
        """Agents with their presence, the queue and the calls in progress (JSON)."""
        return web.json_response(live_overview(request.app[centre]))

    @require(*EVIDENCE_ROLES, api=True)
    async def evidence_file(request: web.Request) -> web.StreamResponse:
        """One evidence file of a session (signature PNG, ID photo JPEG, JSON record)."""
        session_id = request.match_info["id"]
        try:
            seq = int(request.match_info["seq"])
        except ValueError:
            raise web.HTTPNotFound(text="no such evidence") from None
        user = request[USER]
        live = request.app[centre]
        if user.role == "agent":
            session = live.sessions.get(session_id)
            # A call whose customer is reconnecting is held for its agent meanwhile.
            agent = live.held.get(session_id) if session is None else session.agent
            if agent is None or agent.role != "agent" or agent.name != user.name:
                raise web.HTTPForbidden(text="an agent sees the evidence of their own call only")
        try:
            detail = await request.app[database].get_session(session_id)
        except NotFound:
            raise web.HTTPNotFound(text="no such session") from None
        item = next((e for e in detail.evidence if e.seq == seq), None)
        if item is None or item.file is None:
            raise web.HTTPNotFound(text="no such evidence file")
        root = Path(live.recordings_dir).resolve()
        folder = root / session_id
        if item.part > 1:
            folder = folder / f"part-{item.part}"
        path = (folder / item.file).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound(text="the evidence file is missing")
        await access_log.append(
            request.app[database], user.name, user.role, "view", session_id, {"evidence": seq}
        )
        return web.FileResponse(
            path,
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        )

    @signed_in
    async def session_page(request: web.Request) -> web.Response:
        try:
            detail = await request.app[database].get_session(request.match_info["id"])
        except NotFound:
            raise web.HTTPNotFound(text="no such session") from None
        parts = max(detail.session.recording_parts, 1)
        try:
            part = int(request.query.get("part", parts))
        except ValueError:
            raise web.HTTPBadRequest(text='"part" must be a whole number') from None
        if not 1 <= part <= parts:
            raise web.HTTPNotFound(text=f"the recording has parts 1 to {parts}")
        user = request[USER]
        await access_log.append(
            request.app[database], user.name, user.role, "view", detail.session.id, {"part": part}
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

    app.router.add_get("/console/login", login_page)
    app.router.add_post("/console/login", login)
    app.router.add_post("/console/logout", logout)
    app.router.add_get("/console", console_home)
    app.router.add_get("/console/supervisor", supervisor_page)
    app.router.add_get("/console/api/overview", overview)
    app.router.add_get("/console/sessions/{id}", session_page)
    app.router.add_get(r"/console/sessions/{id}/evidence/{seq:\d+}", evidence_file)
    app.router.add_static("/console/static", STATIC)


def live_overview(live: Any) -> dict[str, Any]:
    """What a supervisor sees: agents and their presence, the queue, the calls under way."""
    agents = live.agents_overview()
    calls = [
        {
            "session_id": s.id,
            "service": s.service,
            "branch": s.kiosk.branch,
            "kiosk": s.kiosk.name,
            "agent": s.agent.name,
            "step": s.state,
            "recording": s.recording,
            "call_s": None if s.t0 is None else round(time.time() - s.t0),
        }
        for s in live.sessions.values()
        if s.agent is not None
    ]
    return {"agents": agents, "queue": live.queue_state().waiting, "calls": calls}


def format_ms(value: int | None) -> str:
    """Milliseconds as ``m:ss.s`` for people."""
    if value is None:
        return "—"
    minutes, ms = divmod(int(value), 60000)
    return f"{minutes}:{ms / 1000:04.1f}"


def session_figures(detail: Any, part: int = 1) -> dict[str, Any]:
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
