"""The admin page: staff accounts and kiosk devices (add, enrol, revoke)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from common import Role
from signaling.sockets import OPEN_SOCKETS
from signaling.webauth import USER, check_csrf, require
from storage import (
    Database,
    StorageError,
    StorageUnavailable,
    access_log,
    check_password_strength,
)
from storage.models import Credential

from .keys import DATABASE
from .rendering import render

#: The staff roles in the order the form offers them.
STAFF = tuple(role for role in Role if role in Role.staff())

routes = web.RouteTableDef()


async def _credentials(db: Database) -> list[Credential]:
    async with db.sessions() as session:
        rows = await session.scalars(select(Credential).order_by(Credential.role, Credential.name))
        return list(rows)


async def _page(
    request: web.Request, shown: dict[str, object] | None = None, status: int = 200
) -> web.Response:
    rows = await _credentials(request.app[DATABASE])
    context: dict[str, object] = {"error": None, "token": None, "added": None}
    context.update(shown or {})
    return render(request, "admin.html", status=status, rows=rows, roles=STAFF, **context)


def _role(value: str, allowed: tuple[Role, ...]) -> Role:
    if value not in allowed:
        raise StorageError(f"role must be one of {', '.join(allowed)}")
    return Role(value)


@routes.get("/admin")
@require(Role.ADMIN)
async def show(request: web.Request) -> web.Response:
    """The accounts and devices, with the forms to change them."""
    return await _page(request)


@routes.post("/admin")
@require(Role.ADMIN)
async def change(request: web.Request) -> web.Response:
    """Add a member of staff, enrol a kiosk or revoke either; every change access-logged."""
    form = await request.post()
    check_csrf(request, form.get("csrf"))
    db, user = request.app[DATABASE], request[USER]
    action = str(form.get("action", ""))
    name = str(form.get("name", "")).strip()[:100]
    try:
        if not name:
            raise StorageError("a name is needed")
        if action == "add_user":
            role = _role(str(form.get("role", "")), STAFF)
            check_password_strength(str(form.get("password", "")))
            await db.add_credential(role, name)
            await db.set_password(role, name, str(form.get("password", "")))
            details: dict[str, object] = {"role": role}
            shown: dict[str, object] = {"added": f"{role} {name}"}
        elif action == "enrol_kiosk":
            branch = str(form.get("branch", "")).strip()[:100] or None
            token = await db.add_credential(Role.KIOSK, name, branch)
            details = {"role": Role.KIOSK, "branch": branch}
            shown = {"token": token, "added": f"kiosk {name}"}
        elif action == "revoke":
            role = _role(str(form.get("role", "")), tuple(Role))
            await db.revoke_credential(role, name)  # its web sessions go with it
            request.app[OPEN_SOCKETS].close_account(role, name)
            details = {"role": role, "revoked": True}
            shown = {"added": None}
        else:
            raise StorageError(f'unknown action "{action[:40]}"')
    except StorageUnavailable:
        raise  # the server's failure, not the form's: the error middleware answers it
    except StorageError as exc:
        # A refused change is shown on the form itself, so that the admin can correct it.
        return await _page(request, {"error": str(exc)}, status=400)
    await access_log.append(db, user.name, user.role, "admin", name, {"action": action, **details})
    return await _page(request, shown)
