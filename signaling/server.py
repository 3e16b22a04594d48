"""The app's signalling endpoint: the kiosks' and agents' WebSocket, and the health check.

``setup_signaling`` mounts them; the application (``dualrec.app``) puts the running
``CallCentre`` under ``CENTRE`` when it starts.
"""

from __future__ import annotations

import logging
import weakref

from aiohttp import WSMsgType, web

from media import MediaError, NegotiationError
from storage import StorageError
from workflow import StepRefused, TransitionNotAllowed, UnknownFlow, WorkflowError

from .errors import SignalingError
from .hub import CallCentre
from .lag import LagMonitor
from .protocol import MAX_MESSAGE_BYTES, Error, Message, parse_message
from .session import Client
from .webauth import any_signed_in_user, same_origin

logger = logging.getLogger(__name__)

CENTRE = web.AppKey("centre", CallCentre)
LAG = web.AppKey("lag", LagMonitor)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")


def error_message(exc: Exception, ref: str | None) -> Error:
    """The one mapping from errors to the ``error`` messages clients see."""
    if isinstance(exc, SignalingError):
        code = exc.code
    elif isinstance(exc, TransitionNotAllowed):
        code = "transition_not_allowed"
    elif isinstance(exc, StepRefused):
        # Missing or invalid data, missing evidence, a failed guard: the message names
        # the step and what is missing or wrong.
        code = "step_refused"
    elif isinstance(exc, UnknownFlow):
        code = "unknown_service"
    elif isinstance(exc, WorkflowError):
        code = "workflow_error"
    elif isinstance(exc, NegotiationError):
        code = "negotiation_failed"
    elif isinstance(exc, MediaError):
        code = "media_error"
    elif isinstance(exc, StorageError):
        logger.error("storage error while handling %s: %s", ref, exc)
        return Error(code="storage_error", message="the server could not store this", ref=ref)
    else:
        logger.exception("unexpected error while handling %s", ref, exc_info=exc)
        return Error(code="internal_error", message="the server failed on this message", ref=ref)
    return Error(code=code, message=str(exc), ref=ref)


async def signaling_socket(request: web.Request) -> web.WebSocketResponse:
    """One kiosk's or agent's signalling connection."""
    # Frames up to 4x the message limit are read, so that a too-large message gets an
    # error message rather than a dropped connection.
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4 * MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    app = request.app
    app[SOCKETS].add(ws)
    centre = app[CENTRE]

    async def send(message: Message) -> None:
        if not ws.closed:
            await ws.send_str(message.to_json())

    # A signed-in page's socket is authenticated by its cookie, if it comes from our origin.
    web_user = any_signed_in_user(request) if same_origin(request) else None
    client = Client(send=send, web_user=web_user)
    try:
        async for frame in ws:
            if frame.type == WSMsgType.ERROR:
                break
            if frame.type != WSMsgType.TEXT:
                await send(Error(code="bad_message", message="only JSON text frames are accepted"))
                continue
            ref = None
            try:
                message = parse_message(frame.data)
                ref = message.type
                await centre.handle(client, message)
            except Exception as exc:  # every failure becomes an error message
                ref = ref or getattr(exc, "message_type", None)
                await send(error_message(exc, ref))
    finally:
        await centre.disconnect(client)
    return ws


async def healthz(request: web.Request) -> web.Response:
    """Liveness for operators, load balancers and benchmarks (no personal data)."""
    centre = request.app[CENTRE]
    try:
        since = float(request.query.get("since", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text='"since" must be a Unix time in seconds') from None
    return web.json_response(
        {
            "status": "ok",
            "sessions": len(centre.sessions),
            "waiting": len(centre.queue),
            "loop_lag": request.app[LAG].summary(since),
        }
        | ({} if centre.shipper is None else {"uploads_pending": centre.shipper.pending})
    )


def setup_signaling(app: web.Application) -> None:
    """Mount ``/ws`` and ``/healthz``; open sockets are closed when the server stops."""
    app[SOCKETS] = weakref.WeakSet()
    app[LAG] = LagMonitor()
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/ws", signaling_socket)
    app.router.add_get("/healthz", healthz)


async def _close_sockets(app: web.Application) -> None:
    sockets = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutting down")
