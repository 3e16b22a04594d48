"""The app's signalling endpoint: the kiosks' and agents' WebSocket, and the health check.

``setup_signaling`` mounts them; the application (``dualrec.app``) puts the running
``CallCentre`` under ``CENTRE`` when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import overload

from aiohttp import WSMsgType, web

from media import MediaError, NegotiationError
from observability import SESSION_ID
from storage import HealthView, StorageError
from workflow import StepRefused, TransitionNotAllowed, UnknownFlow, WorkflowError

from .errors import SignalingError
from .hub import CallCentre
from .lag import LagMonitor
from .protocol import MAX_MESSAGE_BYTES, Error, Join, Message, parse_message
from .session import Client
from .sockets import (
    OPEN_SOCKETS,
    CloseCode,
    CredentialRevoked,
    Credentials,
    DatabaseCredentials,
    OpenSocket,
    OpenSockets,
    TooManySockets,
)
from .stopping import interrupt_calls
from .webauth import any_signed_in_user, same_origin

logger = logging.getLogger(__name__)

CENTRE = web.AppKey("centre", CallCentre)
LAG = web.AppKey("lag", LagMonitor)
#: How a joined socket's credential is checked again (the database's, unless set).
CREDENTIALS: web.AppKey[Credentials] = web.AppKey("credentials")
#: Messages that put a customer in the queue or hand one to an agent: the sender's
#: credential is checked again first (it may have been revoked by another process).
RECHECKED = frozenset({"accept", "request_service", "resume"})
#: The longest error message sent; longer ones are cut (they may quote the input).
MAX_ERROR_TEXT = 300


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
    return Error(code=code, message=_sendable(str(exc), MAX_ERROR_TEXT), ref=_sendable(ref, 50))


@overload
def _sendable(text: str, limit: int) -> str: ...
@overload
def _sendable(text: None, limit: int) -> None: ...
def _sendable(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters and made encodable (a lone surrogate escaped)."""
    if text is None:
        return None
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def signaling_socket(request: web.Request) -> web.WebSocketResponse:
    """One kiosk's or agent's signalling connection (refused 429 over the address's limit)."""
    app = request.app
    if app[CENTRE].nodes.draining():
        # The load balancer passes a 503 on to the next node (deploy/nginx/dualrec.conf).
        raise web.HTTPServiceUnavailable(text="this node is stopping: connect again")
    # A signed-in page's socket is authenticated by its cookie, if it comes from our origin.
    web_user = await any_signed_in_user(request) if same_origin(request) else None
    try:
        socket = app[OPEN_SOCKETS].open(request.remote or "?", web_user)
    except TooManySockets as exc:
        raise web.HTTPTooManyRequests(text=str(exc)) from None
    try:
        # Frames up to 4x the message limit are read, so that a too-large message gets an
        # error message rather than a dropped connection.
        ws = socket.ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4 * MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        await _serve(app, ws, socket)
    finally:
        app[OPEN_SOCKETS].forget(socket)
    return ws


async def _serve(app: web.Application, ws: web.WebSocketResponse, socket: OpenSocket) -> None:
    """Read the socket's messages until it closes, answering each failure with an error."""
    centre = app[CENTRE]
    credentials = app[CREDENTIALS] if CREDENTIALS in app else DatabaseCredentials(centre.db)

    async def send(message: Message) -> None:
        if not ws.closed:
            # A peer gone mid-send is noticed by the read loop, not treated as a failure.
            with contextlib.suppress(ConnectionResetError):
                await ws.send_str(message.to_json())

    client = Client(send=send, web_user=socket.web_user)
    loop = asyncio.get_running_loop()
    join_by = loop.time() + app[OPEN_SOCKETS].join_timeout_s
    try:
        while True:
            # An unjoined socket has until ``join_by``, however much it sends meanwhile.
            wait = None if client.role is not None else join_by - loop.time()
            try:
                if wait is not None and wait <= 0:
                    raise TimeoutError
                frame = await ws.receive(timeout=wait)
            except TimeoutError:
                limit = app[OPEN_SOCKETS].join_timeout_s
                logger.info("unjoined socket from %s closed: no join", socket.address)
                await ws.close(
                    code=CloseCode.JOIN_TIMEOUT, message=f"no join within {limit:g} s".encode()
                )
                break
            if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
            if frame.type == WSMsgType.ERROR:
                break
            if frame.type != WSMsgType.TEXT:
                await send(Error(code="bad_message", message="only JSON text frames are accepted"))
                continue
            if not await _handle(centre, credentials, socket, client, frame.data, send):
                await ws.close(code=CloseCode.REVOKED, message=b"the credential was revoked")
                break
    finally:
        SESSION_ID.set(None if client.session is None else client.session.id)
        await centre.disconnect(client)


async def _handle(
    centre: CallCentre,
    credentials: Credentials,
    socket: OpenSocket,
    client: Client,
    text: str,
    send: Callable[[Message], Awaitable[None]],
) -> bool:
    """Parse and carry out one message; False when the socket's credential is revoked."""
    ref = None
    # Log lines of this message (and of the tasks it starts) name the sender's session.
    SESSION_ID.set(None if client.session is None else client.session.id)
    try:
        message = parse_message(text)
        ref = message.type
        if (
            message.type in RECHECKED
            and socket.role is not None
            and not await credentials.still_valid(socket)
        ):
            raise CredentialRevoked(socket.role, socket.name, message.type)
        await centre.handle(client, message)
        if isinstance(message, Join) and socket.role is None and client.role is not None:
            socket.role, socket.name, socket.token = client.role, client.name, message.token
    except Exception as exc:  # every failure becomes an error message
        ref = ref or getattr(exc, "message_type", None)
        await send(error_message(exc, ref))
        return not isinstance(exc, CredentialRevoked)
    return True


async def healthz(request: web.Request) -> web.Response:
    """Liveness for operators, load balancers and benchmarks (no personal data)."""
    centre = request.app[CENTRE]
    try:
        since = float(request.query.get("since", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text='"since" must be a Unix time in seconds') from None
    degraded = _degraded(centre.db.health) + centre.nodes.problems()
    degraded += await asyncio.to_thread(centre.media.space.check)  # the recordings disk
    # 200 even when degraded: a database blip is every node's, and taking nodes out of the
    # load balancer would end calls whose media and retried writes are going on fine.
    return web.json_response(
        {
            "status": "degraded" if degraded else "ok",
            "degraded": degraded,
            "sessions": len(centre.sessions),
            "waiting": len(centre.queue),
            "loop_lag": request.app[LAG].summary(since),
        }
        | centre.nodes.status()
        | ({} if centre.shipper is None else {"uploads_pending": centre.shipper.pending})
    )


def _degraded(database: HealthView) -> list[str]:
    """What is degraded, in words for operators (empty when all is well)."""
    if not database.degraded:
        return []
    waiting = f"{database.waiting} database operations waiting to be retried"
    if database.failing_since is None:
        return [waiting]
    since = database.failing_since.isoformat(timespec="seconds")
    return [f"database unreachable since {since} ({database.last_error}), {waiting}"]


def setup_signaling(app: web.Application) -> None:
    """Mount ``/ws`` and ``/healthz``; open sockets are closed when the server stops."""
    app[OPEN_SOCKETS] = OpenSockets()
    app[LAG] = LagMonitor()
    # Calls are interrupted (resumable) before their sockets close (signaling.stopping).
    app.on_shutdown.append(_interrupt_calls)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/ws", signaling_socket)
    app.router.add_get("/healthz", healthz)


async def _interrupt_calls(app: web.Application) -> None:
    if CENTRE in app:
        await interrupt_calls(app[CENTRE])


async def _close_sockets(app: web.Application) -> None:
    await app[OPEN_SOCKETS].close_all()
