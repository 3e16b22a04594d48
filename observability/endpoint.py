"""``GET /metrics``: the Prometheus text format, for an admin or the scrape token only.

A scraper sends ``Authorization: Bearer <token>`` with the token configured as
``metrics_token`` (compared in constant time); a person signed in to the console as an
admin may look too. Nobody else: no credentials is 401, a wrong token is 401, a
signed-in user of another role is 403. The metrics carry no personal data, but they
tell how busy each service and node is, which is the bank's business.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from common import Role

from .metrics import Metrics

#: Who is signed in on a request (their role), if anyone: the application's web sign-in.
SignedInRole = Callable[[web.Request], Awaitable[Role | None]]


@dataclass(frozen=True)
class MetricsAccess:
    """Who may scrape: the holder of ``token`` (None: no token works) and signed-in admins."""

    token: str | None = None
    signed_in: SignedInRole | None = None


METRICS = web.AppKey("metrics", Metrics)
METRICS_ACCESS = web.AppKey("metrics_access", MetricsAccess)


def _bearer(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


async def check_access(request: web.Request, access: MetricsAccess) -> None:
    """Raise 401 or 403 unless ``request`` carries the token or an admin's sign-in."""
    offered = _bearer(request)
    if offered is not None:
        wanted = access.token
        # Both sides as bytes: compare_digest refuses non-ASCII str.
        if wanted and hmac.compare_digest(offered.encode(), wanted.encode()):
            return
        raise web.HTTPUnauthorized(
            text="the metrics token is wrong", headers={"WWW-Authenticate": "Bearer"}
        )
    role = None if access.signed_in is None else await access.signed_in(request)
    if role is Role.ADMIN:
        return
    if role is not None:
        raise web.HTTPForbidden(text=f"{role.article} may not read the metrics; admins may")
    raise web.HTTPUnauthorized(
        text="sign in as an admin or send the metrics token",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def metrics_page(request: web.Request) -> web.Response:
    """The process's metrics in the Prometheus text format."""
    await check_access(request, request.app[METRICS_ACCESS])
    body, content_type = await request.app[METRICS].render(request.headers.get("Accept"))
    response = web.Response(body=body)
    # Set whole: aiohttp's content_type would drop the format's version parameter.
    response.headers["Content-Type"] = content_type
    return response


def setup_metrics_route(app: web.Application, metrics: Metrics, access: MetricsAccess) -> None:
    """Mount ``GET /metrics`` on ``app`` (a node's application, or a worker's small one)."""
    app[METRICS] = metrics
    app[METRICS_ACCESS] = access
    app.router.add_get("/metrics", metrics_page)
