"""The HTTP request log: one line per request, with the path but never its query string.

aiohttp's default access log prints the request line (``%r``) with its query; a query can
hold personal data (an ID number typed into a search, a token in a link), so this log
writes the client's address (behind a trusted proxy, the one it forwarded), the method, the
path alone, the status, the size and the time. Used by
``dualrec serve`` through ``RUNNER_OPTIONS``.
"""

from __future__ import annotations

from typing import TypedDict

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .proxies import CLIENT


class RequestLog(AbstractAccessLogger):
    """aiohttp's access logger, without query strings."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one request's line."""
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            # The client behind a trusted proxy (dualrec.proxies), else the peer.
            request.get(CLIENT, request.remote),
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )


class RunnerOptions(TypedDict):
    """The keyword arguments of ``web.run_app``/``web.AppRunner`` dualrec sets."""

    access_log_class: type[AbstractAccessLogger]


#: What ``web.run_app``/``web.AppRunner`` are given to run dualrec.
RUNNER_OPTIONS: RunnerOptions = {"access_log_class": RequestLog}
