"""The one mapping from dualrec's error roots to HTTP statuses, as an aiohttp middleware.

Page handlers let ``StorageError``, ``WorkflowError``, ``MediaError`` and
``SignalingError`` through; this turns them into a plain-text answer with the status
their kind means. Its socket counterpart is ``signaling.server.error_message``.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from media import MediaError
from signaling import SignalingError
from signaling.throttle import TooManyAttempts
from storage import Conflict, StorageError, StorageUnavailable
from workflow import WorkflowError

logger = logging.getLogger(__name__)

#: The error roots this maps; anything else is a bug and aiohttp answers 500.
ROOTS = (StorageError, WorkflowError, MediaError, SignalingError)


def http_status(exc: Exception) -> int:
    """The HTTP status of one of our errors."""
    match exc:
        case StorageUnavailable():
            return 503
        case TimeoutError():
            return 504
        case LookupError():  # NotFound, UnknownFlow, UnknownStep
            return 404
        case PermissionError():  # Unauthorised
            return 403
        case Conflict():
            return 409
        case TooManyAttempts():
            return 429
        case MediaError():
            return 500
        case _:
            # What the request asked for is invalid: a bad value, a refused step.
            return 400


@web.middleware
async def error_statuses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer our errors escaping a handler with the status their kind means."""
    try:
        return await handler(request)
    except ROOTS as exc:
        status = http_status(exc)
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.path, exc)
            text = "the server could not do this now; try again later"
        else:
            text = str(exc)
        response = web.Response(status=status, text=text)
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
