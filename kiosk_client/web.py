"""The kiosk's browser page: enrolment with the device token, then the customer's screens.

The page itself (``/kiosk``) is one HTML document whose screens are switched by plain
JavaScript (``static/kiosk.js``) using the browser's own WebSocket and WebRTC; the
signalling socket is authenticated by the kiosk's sign-in cookie, so the device token
is typed once at enrolment and never reaches the page's script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from browser import page_vocabulary
from signaling.webauth import USER, WebUser, require, sign_in
from storage import Database, access_log
from workflow import load_flows

TEMPLATES = web.AppKey("kiosk_templates", jinja2.Environment)
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The services offered on the chooser, in this order where present (others follow).
SERVICE_ORDER = (
    "card_opening",
    "wealth_purchase",
    "risk_assessment",
    "loan_review",
    "corporate_account_verification",
)
#: The largest token the enrolment form takes (tokens are 43 characters).
MAX_TOKEN = 200


def _render(
    request: web.Request, template_name: str, status: int = 200, **context: Any
) -> web.Response:
    template = request.app[TEMPLATES].get_template(template_name)
    return web.Response(
        text=template.render(**context), status=status, content_type="text/html", charset="utf-8"
    )


def _services() -> list[dict[str, str]]:
    """The flows as the chooser shows them: name, titles and descriptions in both languages."""
    flows = load_flows()
    names = [n for n in SERVICE_ORDER if n in flows] + sorted(set(flows) - set(SERVICE_ORDER))
    return [
        {
            "name": name,
            "title_zh": flows[name].title["zh-CN"],
            "title_en": flows[name].title["en"],
            "description_zh": flows[name].description["zh-CN"],
            "description_en": flows[name].description["en"],
        }
        for name in names
    ]


def setup_kiosk_pages(app: web.Application, *, database: web.AppKey[Database]) -> None:
    """Register ``/kiosk/enrol``, ``/kiosk`` and the page's static files on ``app``."""
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("kiosk_client", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app[TEMPLATES].globals["vocabulary"] = page_vocabulary()
    services = _services()

    async def enrol_page(request: web.Request) -> web.Response:
        return _render(request, "enrol.html", error=None)

    async def enrol(request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("token", "")).strip()
        credential = None
        if token and len(token) <= MAX_TOKEN:
            credential = await request.app[database].authenticate(token)
        if credential is None or str(credential.role) != "kiosk":
            # A staff token is refused like an unknown one: this page enrols devices only.
            await access_log.append(request.app[database], "?", "unknown", "login_failed", "kiosk")
            return _render(
                request,
                "enrol.html",
                status=401,
                error="此令牌不是有效的自助终端设备令牌。This is not a valid kiosk device token.",
            )
        user = WebUser(credential.name, "kiosk", credential.branch)
        await access_log.append(request.app[database], user.name, user.role, "login", "kiosk")
        response = web.HTTPSeeOther("/kiosk")
        sign_in(response, request, user)
        raise response

    @require("kiosk", login="/kiosk/enrol")
    async def kiosk_page(request: web.Request) -> web.Response:
        return _render(request, "kiosk.html", user=request[USER], services=services)

    app.router.add_get("/kiosk/enrol", enrol_page)
    app.router.add_post("/kiosk/enrol", enrol)
    app.router.add_get("/kiosk", kiosk_page)
    app.router.add_static("/kiosk/static", STATIC_DIR)
