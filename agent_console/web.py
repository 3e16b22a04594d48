"""The browser console pages: sign-in, the live queue, sessions and their recordings."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from storage import Database, NotFound, access_log

#: Roles that may use the console pages (kiosk devices may not).
CONSOLE_ROLES = frozenset({"agent", "supervisor", "auditor", "admin"})
COOKIE = "dualrec_console"


@dataclass(frozen=True)
class ConsoleUser:
    """A signed-in console user, kept server-side under a random cookie value."""

    name: str
    role: str
    csrf: str


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USERS = web.AppKey("console_users", dict[str, ConsoleUser])
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
USER = web.RequestKey("console_user", ConsoleUser)


def _render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    template = request.app[TEMPLATES].get_template(name)
    context.setdefault("user", request.get(USER))
    return web.Response(
        text=template.render(**context), status=status, content_type="text/html", charset="utf-8"
    )


def setup_console(
    app: web.Application, *, database: web.AppKey[Database], centre: web.AppKey[Any]
) -> None:
    """Register the console routes on ``app``; the database and call centre come by key."""
    app[USERS] = {}
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("agent_console", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app[TEMPLATES].filters["ms"] = format_ms

    def signed_in(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = request.app[USERS].get(request.cookies.get(COOKIE, ""))
            if user is None:
                raise web.HTTPSeeOther("/console/login")
            if user.role not in CONSOLE_ROLES:
                raise web.HTTPForbidden(text="this role may not use the console")
            request[USER] = user
            return await handler(request)

        return wrapper

    async def login_page(request: web.Request) -> web.Response:
        return _render(request, "login.html", error=None)

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token", ""))
        credential = await request.app[database].authenticate(token) if token else None
        if credential is None or credential.role not in CONSOLE_ROLES:
            return _render(
                request,
                "login.html",
                status=401,
                error="This sign-in token is not valid for the console.",
            )
        sid = secrets.token_urlsafe(32)
        request.app[USERS][sid] = ConsoleUser(
            credential.name, credential.role, secrets.token_urlsafe(16)
        )
        await access_log.append(
            request.app[database], credential.name, str(credential.role), "login", "console"
        )
        response = web.HTTPSeeOther("/console")
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        raise response

    @signed_in
    async def logout(request: web.Request) -> web.Response:
        form = await request.post()
        user = request[USER]
        if not hmac.compare_digest(str(form.get("csrf", "")), user.csrf):
            raise web.HTTPForbidden(text="bad CSRF token")
        request.app[USERS].pop(request.cookies.get(COOKIE, ""), None)
        await access_log.append(request.app[database], user.name, user.role, "logout", "console")
        response = web.HTTPSeeOther("/console/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    @signed_in
    async def dashboard(request: web.Request) -> web.Response:
        live = request.app[centre]
        sessions = await request.app[database].list_sessions(limit=50)
        queue = live.queue_state().waiting
        active = [s for s in live.sessions.values() if s.agent is not None]
        return _render(request, "dashboard.html", queue=queue, active=active, sessions=sessions)

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
        return _render(
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
    app.router.add_get("/console", dashboard)
    app.router.add_get("/console/sessions/{id}", session_page)


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
