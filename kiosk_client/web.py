"""The kiosk's browser page: enrolment with the device token, then the customer's screens.

The page itself (``/kiosk``) is one HTML document whose screens are switched by plain
JavaScript (``static/kiosk.js``) using the browser's own WebSocket and WebRTC; the
signalling socket is authenticated by the kiosk's sign-in cookie, so the device token
is typed once at enrolment and never reaches the page's script. The page never touches
the bank's data: enrolment is asked of the ``DeviceEnrolment`` the application gives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from browser import page_vocabulary
from common import Language, Role
from signaling.throttle import TooManyAttempts
from signaling.webauth import USER, DeviceEnrolment, check_pre_sign_in, require, sign_in
from workflow import load_flows

#: How devices are enrolled; the application sets it when its database is open.
ENROLMENT: web.AppKey[DeviceEnrolment] = web.AppKey("kiosk_enrolment")
TEMPLATES = web.AppKey("kiosk_templates", jinja2.Environment)
#: The services the chooser offers, as ``services()`` lists them.
SERVICES: web.AppKey[list[dict[str, str]]] = web.AppKey("kiosk_services")
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The services offered on the chooser, in this order where present (others follow).
SERVICE_ORDER = (
    "card_opening",
    "wealth_purchase",
    "risk_assessment",
    "loan_review",
    "corporate_account_verification",
)

routes = web.RouteTableDef()


def _render(
    request: web.Request, template_name: str, status: int = 200, **context: Any
) -> web.Response:
    template = request.app[TEMPLATES].get_template(template_name)
    return web.Response(
        text=template.render(**context), status=status, content_type="text/html", charset="utf-8"
    )


def services() -> list[dict[str, str]]:
    """The flows as the chooser shows them: name, titles and descriptions in both languages."""
    flows = load_flows()
    names = [n for n in SERVICE_ORDER if n in flows] + sorted(set(flows) - set(SERVICE_ORDER))
    return [
        {
            "name": name,
            "title_zh": flows[name].title[Language.ZH_CN],
            "title_en": flows[name].title[Language.EN],
            "description_zh": flows[name].description[Language.ZH_CN],
            "description_en": flows[name].description[Language.EN],
        }
        for name in names
    ]


@routes.get("/kiosk/enrol")
async def enrol_page(request: web.Request) -> web.Response:
    """The enrolment form."""
    return _render(request, "enrol.html", error=None)


@routes.post("/kiosk/enrol")
async def enrol(request: web.Request) -> web.Response:
    """Sign the device in with its token, then go to the kiosk page (throttled)."""
    check_pre_sign_in(request)
    form = await request.post()
    try:
        user = await request.app[ENROLMENT].enrol(
            str(form.get("token", "")).strip(), request.remote
        )
    except TooManyAttempts as exc:
        response = _render(request, "enrol.html", status=429, error=exc.page_text())
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    if user is None:
        return _render(
            request,
            "enrol.html",
            status=401,
            error="此令牌不是有效的自助终端设备令牌。This is not a valid kiosk device token.",
        )
    response = web.HTTPSeeOther("/kiosk")
    await sign_in(response, request, user)
    raise response


@routes.get("/kiosk")
@require(Role.KIOSK, login="/kiosk/enrol")
async def kiosk_page(request: web.Request) -> web.Response:
    """The customer's screens."""
    return _render(request, "kiosk.html", user=request[USER], services=request.app[SERVICES])


def setup_kiosk_pages(app: web.Application) -> None:
    """Mount ``/kiosk/enrol``, ``/kiosk`` and the page's static files on ``app``.

    The application sets ``app[ENROLMENT]`` once its database is open.
    """
    app[SERVICES] = services()
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("kiosk_client", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app[TEMPLATES].globals["vocabulary"] = page_vocabulary()
    app.add_routes(routes)
    app.router.add_static("/kiosk/static", STATIC_DIR)
