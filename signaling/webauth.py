"""Who is signed in to the pages: server-side web sessions, roles and CSRF checks.

Staff (agent, supervisor, auditor, admin) sign in to the console with a password; a kiosk
device is signed in once, at enrolment, with its device token. Either way the browser
holds only a random cookie value; what it stands for stays on the server. The signalling
WebSocket of a signed-in page is authenticated by the same cookie (see
``signaling.server``), so no token ever reaches the page's JavaScript.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web

from common import Role
from storage.web_sessions import KIOSK_LIFETIME

from .sockets import OPEN_SOCKETS

#: The cookie of each kind of page; a browser may hold both.
STAFF_COOKIE = "dualrec_console"
KIOSK_COOKIE = "dualrec_kiosk"
#: How long a kiosk's browser keeps its cookie: the longest a kiosk's sign-in lasts.
KIOSK_COOKIE_MAX_AGE_S = int(KIOSK_LIFETIME.longest.total_seconds())

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WebUser:
    """A signed-in person or kiosk device, as the server remembers them."""

    name: str
    role: Role
    branch: str | None
    #: Sent back with every form and compared: a page of another site cannot know it.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: The web session it was found by (see ``WebSessions``); None before it signs in.
    session: str | None = None


class WebSessions(Protocol):
    """Signed-in browsers by cookie value (the server keeps them in the database)."""

    async def create(self, user: WebUser) -> str:
        """Remember ``user`` and return the cookie value that stands for them."""
        ...

    async def get(self, cookie: str | None) -> WebUser | None:
        """The user behind ``cookie``, if it stands for a live sign-in (which it extends)."""
        ...

    async def drop(self, cookie: str | None) -> None:
        """Forget a cookie value (sign-out)."""
        ...


class DeviceEnrolment(Protocol):
    """What the kiosk page may ask of authentication: sign a device in by its token."""

    async def enrol(self, token: str, address: str | None) -> WebUser | None:
        """The kiosk device whose token this is (access-logged); None for any other token.

        Raises ``signaling.throttle.TooManyAttempts`` when ``address`` is throttled.
        """
        ...


WEB_SESSIONS = web.AppKey("web_sessions", WebSessions)
USER = web.RequestKey("web_user", WebUser)


def a(role: str) -> str:
    """``role`` with its indefinite article: "an agent", "a kiosk" (see ``Role.article``)."""
    return Role(role).article


def cookie_for(role: Role) -> str:
    """The cookie that carries a signed-in ``role``."""
    return KIOSK_COOKIE if role == Role.KIOSK else STAFF_COOKIE


async def signed_in_user(request: web.Request, roles: Iterable[Role]) -> WebUser | None:
    """The signed-in user of ``request`` whose role is one of ``roles``, if any."""
    sessions = request.app[WEB_SESSIONS]
    wanted = set(roles)
    for cookie in (STAFF_COOKIE, KIOSK_COOKIE):
        user = await sessions.get(request.cookies.get(cookie))
        if user is not None and user.role in wanted:
            return user
    return None


async def any_signed_in_user(request: web.Request) -> WebUser | None:
    """Whoever is signed in on ``request``, staff first."""
    return await signed_in_user(request, Role)


async def sign_in(response: web.StreamResponse, request: web.Request, user: WebUser) -> None:
    """Start a web session for ``user`` and set its cookie on ``response``."""
    sessions = request.app[WEB_SESSIONS]
    cookie = cookie_for(user.role)
    await sessions.drop(request.cookies.get(cookie))  # a new session id on every sign-in
    response.set_cookie(
        cookie,
        await sessions.create(user),
        httponly=True,
        samesite="Strict",
        # Over TLS the cookie must never travel in clear; on plain loopback it cannot be set.
        secure=request.secure,
        path="/",
        # Staff: gone with the browser; a kiosk's for as long as the server may keep it.
        max_age=None if user.role != Role.KIOSK else KIOSK_COOKIE_MAX_AGE_S,
    )


async def sign_out(response: web.StreamResponse, request: web.Request, user: WebUser) -> None:
    """End the web session of ``request`` and clear its cookie."""
    cookie = cookie_for(user.role)
    await request.app[WEB_SESSIONS].drop(request.cookies.get(cookie))
    request.app[OPEN_SOCKETS].close_signed_in(user)  # its page's sockets go with it
    response.del_cookie(cookie, path="/", secure=request.secure, httponly=True, samesite="Strict")


def require(
    *roles: Role, login: str = "/console/login", api: bool = False
) -> Callable[[Handler], Handler]:
    """Decorate a handler: signed-in users of ``roles`` only.

    Nobody signed in is sent to ``login`` (pages) or answered 401 (``api``); a signed-in
    user of another role gets 403 naming the roles the page is for.
    """

    allowed = ", ".join(role for role in Role if role in roles)

    def decorate(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = await signed_in_user(request, roles)
            if user is None:
                other = await any_signed_in_user(request)
                if other is not None:
                    raise web.HTTPForbidden(
                        text=f"{other.role.article} may not use this; it is for: {allowed}"
                    )
                if api:
                    raise web.HTTPUnauthorized(text="sign in first")
                raise web.HTTPSeeOther(login)
            request[USER] = user
            return await handler(request)

        wrapper.__name__ = handler.__name__
        wrapper.__doc__ = handler.__doc__
        return wrapper

    return decorate


def check_csrf(request: web.Request, token: object) -> None:
    """Raise 403 unless ``token`` is the signed-in user's CSRF token (forms and JSON posts)."""
    user = request[USER]
    if not isinstance(token, str) or not hmac.compare_digest(token, user.csrf):
        raise web.HTTPForbidden(text="the form's CSRF token is missing or wrong: reload the page")


#: What ``Sec-Fetch-Site`` says of a form our own page posted (or the user re-sent).
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def check_pre_sign_in(request: web.Request) -> None:
    """Raise 403 if a sign-in form (login, kiosk enrolment) was posted by another site.

    Before sign-in there is no web session to hold a CSRF token, and another site's page
    could post its attacker's credentials and sign the victim's browser in as the
    attacker (login CSRF). The check is the browser's own word, not a token: browsers
    send ``Sec-Fetch-Site`` (Chromium, Firefox, Safari 16.4+) or at least ``Origin`` on
    every form post, and no page can forge either. This is the rule of Go's
    ``http.CrossOriginProtection``: ``Sec-Fetch-Site`` must be same-origin (or none: the
    user's own navigation); without it, ``Origin`` must name this host; a request with
    neither comes from no browser (a script, a test client) and cannot be a cross-site
    forgery. A token would need a pre-session cookie and a page load before every
    scripted sign-in, and protect nothing more against a browser. ``Origin: null`` (a
    sandboxed frame) is refused.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        cross = fetch_site not in _OWN_FETCH_SITES
    else:
        origin = request.headers.get("Origin")
        cross = origin is not None and not _is_own_origin(request, origin)
    if cross:
        raise web.HTTPForbidden(
            text="这个表单来自其他网站，已拒绝。This form was sent from another site: refused."
        )


def _is_own_origin(request: web.Request, origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.netloc == request.host and parts.scheme in ("http", "https")


def same_origin(request: web.Request) -> bool:
    """Whether a cookie-carrying request (a WebSocket upgrade) comes from our own pages.

    Browsers send Origin with every WebSocket handshake; another site's page could
    otherwise open our socket with the user's cookie.
    """
    origin = request.headers.get("Origin")
    return origin is not None and _is_own_origin(request, origin)
