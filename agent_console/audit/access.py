"""What every audit page does first: the auditor check, the session and part asked for,
the CSRF check of its form, and the access-log entry of what was seen or done.

The customer's ID number is never shown: pages, log details and exported summaries carry
at most its last four characters (``customer_masked``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from common import Party, Role
from signaling.webauth import USER, check_csrf, require
from storage import SessionDetail, access_log, audit
from workflow import mask_id

from ..keys import AUDIT_CACHE, DATABASE, TIMEZONE

_SESSION_ID = re.compile(r"[0-9a-f]{8,32}")

#: Every audit page and action is for auditors only.
auditor = require(Role.AUDITOR)


def customer_masked(detail: SessionDetail) -> str:
    """The customer's ID number as pages show it: ``**************1234``."""
    s = detail.session
    if s.customer_id_last4:
        return audit.mask_last4(s.customer_id_last4)
    number = s.workflow_context.get("id_number")
    return mask_id(number) if isinstance(number, str) else "—"


def facts(detail: SessionDetail) -> dict[str, Any]:
    """The suitability facts of the context worth showing (never the ID number)."""
    context = detail.session.workflow_context
    keys = ("risk_level", "risk_score", "product_code", "product_name", "product_risk")
    shown = {k: context[k] for k in (*keys, "purchase_amount") if k in context}
    suitability = context.get("suitability")
    return {"facts": shown, "suitability": suitability if isinstance(suitability, dict) else None}


def local_time(request: web.Request) -> Callable[[datetime], datetime]:
    """Moments as the server's time zone shows them."""
    zone = ZoneInfo(request.app[TIMEZONE])
    return lambda moment: moment.astimezone(zone)


async def log(request: web.Request, action: str, target: str, **detail: Any) -> None:
    """Write what the signed-in auditor did to the access log."""
    user = request[USER]
    await access_log.append(request.app[DATABASE], user.name, user.role, action, target, detail)


async def load(request: web.Request) -> SessionDetail:
    """The session named in the URL (NotFound, answered 404, if there is none)."""
    session_id = request.match_info["id"]
    if not _SESSION_ID.fullmatch(session_id):
        raise web.HTTPBadRequest(text=f"not a session id: {session_id[:40]!r}")
    return await request.app[DATABASE].get_session(session_id)


def requested_part(request: web.Request, detail: SessionDetail) -> int:
    """The recording part asked for by ``?part=`` (the first by default)."""
    parts = max(detail.session.recording_parts, 1)
    raw = request.query.get("part", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise web.HTTPBadRequest(text=f'"part" must be a whole number, got {raw[:20]!r}')
    part = int(raw)
    if not 1 <= part <= parts:
        raise web.HTTPNotFound(text=f"the recording has parts 1 to {parts}")
    return part


def requested_party(request: web.Request) -> Party:
    """The party named in the URL."""
    party = request.match_info["party"]
    if party not in tuple(Party):
        named = " or ".join(Party)
        raise web.HTTPBadRequest(text=f"party must be {named}, got {party[:20]!r}")
    return Party(party)


async def form_with_csrf(request: web.Request) -> dict[str, str]:
    """The posted form's text fields, once its CSRF token is checked."""
    form = await request.post()
    check_csrf(request, form.get("csrf"))
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def stored(request: web.Request, key: str) -> Path:
    """A local copy of the recordings store's ``key`` (NotFound, answered 404, if absent)."""
    return await asyncio.to_thread(request.app[AUDIT_CACHE].file, key)
