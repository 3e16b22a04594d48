"""The admin page: staff accounts and kiosk devices (add, enrol, revoke)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from signaling.webauth import USER, WEB_SESSIONS, check_csrf, require
from storage import Database, StorageError, access_log
from storage.database import check_password_strength
from storage.models import Credential

from .web import render

STAFF = ("agent", "supervisor", "auditor", "admin")


async def _credentials(db: Database) -> list[Credential]:
    async with db.sessions() as session:
        rows = await session.scalars(select(Credential).order_by(Credential.role, Credential.name))
        return list(rows)


def setup_admin(app: web.Application, *, database: web.AppKey[Database]) -> None:
    """Register ``/admin`` (admins only)."""
    admin = require("admin")

    async def page(
        request: web.Request, shown: dict[str, object] | None = None, status: int = 200
    ) -> web.Response:
        rows = await _credentials(request.app[database])
        context: dict[str, object] = {"error": None, "token": None, "added": None}
        context.update(shown or {})
        return render(request, "admin.html", status=status, rows=rows, roles=STAFF, **context)

    @admin
    async def show(request: web.Request) -> web.Response:
        return await page(request)

    @admin
    async def change(request: web.Request) -> web.Response:
        form = await request.post()
        check_csrf(request, form.get("csrf"))
        db, user = request.app[database], request[USER]
        action = str(form.get("action", ""))
        name = str(form.get("name", "")).strip()[:100]
        role = str(form.get("role", ""))
        try:
            if not name:
                raise StorageError("a name is needed")
            if action == "add_user":
                if role not in STAFF:
                    raise StorageError(f"role must be one of {', '.join(STAFF)}")
                check_password_strength(str(form.get("password", "")))
                await db.add_credential(role, name)
                await db.set_password(role, name, str(form.get("password", "")))
                details: dict[str, object] = {"role": role}
                shown: dict[str, object] = {"added": f"{role} {name}"}
            elif action == "enrol_kiosk":
                branch = str(form.get("branch", "")).strip()[:100] or None
                token = await db.add_credential("kiosk", name, branch)
                details = {"role": "kiosk", "branch": branch}
                shown = {"token": token, "added": f"kiosk {name}"}
            elif action == "revoke":
                if role not in (*STAFF, "kiosk"):
                    raise StorageError("unknown role")
                await db.revoke_credential(role, name)
                request.app[WEB_SESSIONS].drop_user(role, name)
                details = {"role": role, "revoked": True}
                shown = {"added": None}
            else:
                raise StorageError(f'unknown action "{action[:40]}"')
        except StorageError as exc:
            return await page(request, {"error": str(exc)}, status=400)
        await access_log.append(
            db, user.name, user.role, "admin", name, {"action": action, **details}
        )
        return await page(request, shown)

    app.router.add_get("/admin", show)
    app.router.add_post("/admin", change)
