"""The aiohttp application: signalling WebSocket, consoles and media relay."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import weakref
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

from aiohttp import WSMsgType, web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent_console import setup_admin, setup_console
from agent_console.audit import setup_audit
from browser import STATIC_DIR as SHARED_STATIC
from browser import STATIC_URL as SHARED_STATIC_URL
from dualrec.settings import Settings
from kiosk_client import setup_kiosk_pages
from media import MediaError, NegotiationError, load_or_create_signing_key
from media.archive import composite_worker_init
from storage import Database, StorageError
from storage.objectstore import LocalStore, RecordingStore, TieredStore
from workflow import StepRefused, TransitionNotAllowed, UnknownFlow, WorkflowError, load_flows

from .closing import close_interrupted_part
from .conductor import TtsSettings
from .errors import SignalingError
from .hub import CallCentre
from .lag import LagMonitor
from .protocol import MAX_MESSAGE_BYTES, Error, Message, parse_message
from .session import Client
from .shipping import open_shipper
from .webauth import WEB_SESSIONS, WebSessions, any_signed_in_user, same_origin

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
CENTRE = web.AppKey("centre", CallCentre)
LAG = web.AppKey("lag", LagMonitor)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")
#: Where the recordings are read back from (the local folder, or object storage).
RECORDINGS = web.AppKey("recordings", RecordingStore)


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


async def _recover(db: Database, settings: Settings, key: Ed25519PrivateKey) -> None:
    """Calls cut by the previous run become interrupted; their recording parts are closed."""
    interrupted, failed = await db.interrupt_open_sessions("server restarted", datetime.now(UTC))
    if failed:
        logger.warning("%d queued sessions were left by a previous run: marked failed", failed)
    # Also those a previous start could not close (it died too): closing is idempotent.
    for session in await db.list_sessions(limit=1000, status="interrupted"):
        try:
            await close_interrupted_part(db, settings.recordings_dir, session.id, key)
        except (MediaError, OSError) as exc:
            logger.error("session %s: the interrupted part cannot be closed: %s", session.id, exc)
    if interrupted:
        logger.warning("%d calls were cut by a restart: interrupted, resumable", len(interrupted))


def create_app(settings: Settings) -> web.Application:
    """Build the dualrec server application."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SETTINGS] = settings
    app[SOCKETS] = weakref.WeakSet()
    app[LAG] = LagMonitor()
    app[WEB_SESSIONS] = WebSessions()
    app[RECORDINGS] = LocalStore(settings.recordings_dir)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        key = await asyncio.to_thread(load_or_create_signing_key, settings.signing_key_path)
        async with Database(settings.database) as db:
            await _recover(db, settings, key)
            app[DATABASE] = db
            # With object storage: segments ship as they close, reads fall back to it.
            shipper = await open_shipper(settings, db)
            if shipper is not None:
                app[RECORDINGS] = TieredStore(LocalStore(settings.recordings_dir), shipper.store)
            # Composites are made in a separate process: numpy and muxing hold the GIL.
            with ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=composite_worker_init,
            ) as pool:
                app[CENTRE] = CallCentre(
                    db,
                    load_flows(),
                    settings.recordings_dir,
                    key,
                    segment_s=settings.segment_s,
                    composites=pool,
                    timezone=settings.timezone,
                    tts=TtsSettings(speed_wpm=settings.tts_speed_wpm),
                    shipper=shipper,
                )
                app[LAG].start()
                yield
                await app[LAG].stop()
                await app[CENTRE].shutdown()
                if shipper is not None:
                    await shipper.close()

    async def close_sockets(app: web.Application) -> None:
        sockets = app[SOCKETS]
        for ws in list(sockets):
            await ws.close(code=1001, message=b"server shutting down")

    app.cleanup_ctx.append(resources)
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/ws", signaling_socket)
    app.router.add_get("/healthz", healthz)
    app.router.add_static(SHARED_STATIC_URL, SHARED_STATIC)
    setup_console(app, database=DATABASE, centre=CENTRE)
    setup_admin(app, database=DATABASE)
    setup_audit(app, database=DATABASE, recordings=RECORDINGS, settings=SETTINGS)
    setup_kiosk_pages(app, database=DATABASE)
    return app
