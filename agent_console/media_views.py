"""Access-logging who fetched a session's media and evidence files, once per run of requests.

A video element fetches its file as many Range requests (every seek, every buffer); the
access log gets one entry per (user, session, file, part) while the requests keep coming,
and another once they stopped for ``window_s``, not one hash-chained row per byte range.
The memory of recent views is a per-node cache: a view seen by two nodes is logged twice,
which errs on the side of the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from signaling.webauth import USER
from storage import access_log

from .keys import DATABASE

#: A run of requests for the same file ends after this long without one.
WINDOW_S = 15 * 60.0
#: Views remembered before the ended runs are swept.
_SWEEP_ABOVE = 10_000

ViewKey = tuple[str, str, str, str, int]


class RecentViews:
    """The (user, session, file, part) fetched lately, and when last."""

    def __init__(
        self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window_s, self._clock = window_s, clock
        self._last: dict[ViewKey, float] = {}

    def starts_run(self, key: ViewKey) -> bool:
        """Note a fetch of ``key``; True if it starts a new run (it must be logged)."""
        now = self._clock()
        if len(self._last) > _SWEEP_ABOVE:
            self._last = {k: t for k, t in self._last.items() if now - t < self._window_s}
        last = self._last.get(key)
        self._last[key] = now
        return last is None or now - last >= self._window_s


MEDIA_VIEWS = web.AppKey("media_views", RecentViews)


async def log_media_view(
    request: web.Request, session_id: str, media: str, part: int, **detail: object
) -> None:
    """Access-log that the signed-in user fetched ``media`` of a session's ``part``.

    ``media`` names the file ("composite", "track kiosk", "evidence 3"); Range requests
    of one run are logged once.
    """
    user = request[USER]
    if request.app[MEDIA_VIEWS].starts_run((user.role, user.name, session_id, media, part)):
        await access_log.append(
            request.app[DATABASE],
            user.name,
            user.role,
            "view",
            session_id,
            {"media": media, "part": part, **detail},
        )
