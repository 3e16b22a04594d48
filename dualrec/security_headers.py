"""The one home of the security headers every response carries (pages, static, JSON, media,
errors, redirects, the socket's handshake).

It hooks ``on_response_prepare`` rather than wrapping handlers as a middleware: that signal
fires for every response the application sends, including aiohttp's own 404/405 answers,
raised ``HTTPException``s and the 500 of an unhandled error, which a middleware can miss.
"""

from __future__ import annotations

from aiohttp import web

#: Scripts, styles, media and the socket all come from this server; scripts are ES modules
#: served as files (no inline script may run). Inline *styles* stay allowed: templates set
#: computed widths (timeline bars) with ``style=``. ``blob:``/``data:`` are for the
#: signature pad's preview, the favicon and played-back media.
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    )
)
#: Said instead of aiohttp's "Python/3.11 aiohttp/3.x": no versions for a scanner to match.
SERVER = "dualrec"
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Server": SERVER,
}
#: Public, unchanging files (the pages' scripts and styles): the only answers a browser or
#: proxy may keep. Everything else may carry personal data, a token or evidence.
CACHEABLE_PREFIXES = ("/static/", "/console/static/", "/kiosk/static/")


async def set_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the security headers to ``response`` just before it is sent."""
    response.headers.update(HEADERS)
    if not request.path.startswith(CACHEABLE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"


def setup_security_headers(app: web.Application) -> None:
    """Make every response of ``app`` carry the security headers."""
    app.on_response_prepare.append(set_security_headers)
