"""The one place the application is wired: ``create_app(settings)``.

It makes the resources (database, signing key, recordings store, shipper, composite
process pool, call centre) when the server starts and closes them when it stops, and
mounts the signalling socket and the pages. The pages get narrow interfaces under
their own typed keys: the console a ``LiveCalls`` view of the call centre, the kiosk
page a ``DeviceEnrolment``; neither is given the call centre or the settings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import agent_console
import kiosk_client
from browser import STATIC_DIR as SHARED_STATIC
from browser import STATIC_URL as SHARED_STATIC_URL
from media import MediaError, load_or_create_signing_key
from observability import METRICS
from signaling.accounts import DatabaseEnrolment, DatabaseWebSessions
from signaling.announcer import TtsSettings
from signaling.closing import close_interrupted_part, queue_missing_composites
from signaling.hub import CallCentre
from signaling.ice import IceServers
from signaling.overview import CentreOverview
from signaling.server import CENTRE, LAG, setup_signaling
from signaling.throttle import SIGN_IN_THROTTLE, MemoryThrottle
from signaling.webauth import WEB_SESSIONS
from storage import Database, PersonalData, RetryPolicy
from storage.objectstore import LocalStore, RecordingStore, TieredStore
from storage.shipping_setup import open_shipper
from workflow import load_flows

from .http_errors import error_statuses
from .jobs_setup import job_queue
from .nodes import setup_nodes
from .observe import setup_observability
from .proxies import setup_proxies
from .request_log import RUNNER_OPTIONS
from .security_headers import setup_security_headers
from .settings import Settings

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
#: The audit database (the console pages read it under the same key).
DATABASE = agent_console.DATABASE
#: Where the recordings are read back from (the local folder, or object storage).
RECORDINGS = web.AppKey("recordings", RecordingStore)

__all__ = ["CENTRE", "DATABASE", "RECORDINGS", "RUNNER_OPTIONS", "SETTINGS", "create_app"]


def create_app(settings: Settings) -> web.Application:
    """Build the dualrec server application."""
    app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[error_statuses])
    setup_security_headers(app)
    setup_proxies(app, settings.trusted_proxies)
    app[SETTINGS] = settings
    app[SIGN_IN_THROTTLE] = MemoryThrottle()
    app[RECORDINGS] = LocalStore(settings.recordings_dir)
    app[agent_console.RECORDINGS_DIR] = settings.recordings_dir
    app[agent_console.TIMEZONE] = settings.timezone
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(_audit_cache)
    if settings.redis_url is not None:
        setup_nodes(app, settings)
    setup_signaling(app)
    setup_observability(app, settings)
    app.router.add_static(SHARED_STATIC_URL, SHARED_STATIC)
    agent_console.setup_console(app)
    kiosk_client.setup_kiosk_pages(app)
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    """The database, signing key, shipper, composite pool and call centre, while it runs."""
    settings = app[SETTINGS]
    await asyncio.to_thread(_private_data_dir, settings)
    key = await asyncio.to_thread(load_or_create_signing_key, settings.signing_key_path)
    app[agent_console.TRUSTED_KEY] = key.public_key()
    personal = await asyncio.to_thread(PersonalData.load_or_create, settings.personal_key_path)
    retry = RetryPolicy(total_s=settings.database_retry_s)
    share = settings.review_sample_share
    async with Database(
        settings.database, personal=personal, retry=retry, review_sample_share=share
    ) as db:
        if settings.redis_url is None:
            # Among several nodes a survivor cleans up after a dead one (signaling.failover):
            # a node that starts must not touch the calls of the others.
            await _recover(db, settings.recordings_dir, key)
        app[DATABASE] = db
        app[kiosk_client.ENROLMENT] = DatabaseEnrolment(db, app[SIGN_IN_THROTTLE])
        # Sign-ins live in the database: a restart signs nobody out.
        app[WEB_SESSIONS] = DatabaseWebSessions(db)
        # With object storage: segments ship as they close, reads fall back to it.
        shipper = await open_shipper(settings, db)
        if shipper is not None:
            app[RECORDINGS] = TieredStore(LocalStore(settings.recordings_dir), shipper.store)
        # Post-call work (composites, shipping) runs as jobs: here, or by workers (Redis).
        flows = load_flows()
        async with job_queue(settings, db, key, flows, shipper, app[METRICS].jobs) as jobs:
            # Signed parts without a composite (cut by a restart, or lost with Redis' jobs).
            await queue_missing_composites(db, settings.recordings_dir, jobs)
            centre = CallCentre(
                db,
                flows,
                settings.recordings_dir,
                key,
                segment_s=settings.segment_s,
                jobs=jobs,
                tts=TtsSettings(speed_wpm=settings.tts_speed_wpm),
                shipper=shipper,
            )
            # Queue waits and pairing times are observed where calls are matched and connect.
            centre.media.metrics = app[METRICS]
            # STUN/TURN for the relays, and for each client in its `joined` (signaling.ice).
            centre.media.ice = IceServers(
                settings.stun_urls,
                settings.turn_urls,
                settings.turn_secret,
                settings.turn_ttl_s,
                settings.ice_transport_policy,
            )
            app[CENTRE] = centre
            app[agent_console.LIVE_CALLS] = CentreOverview(centre)
            app[LAG].start()
            yield
            await app[LAG].stop()
            await centre.shutdown()
            if shipper is not None:
                await shipper.close()


def _private_data_dir(settings: Settings) -> None:
    """Make what the server keeps its own user's only (blocking).

    The umask (process-wide, inherited by the composite worker) makes every file written
    from now on 0600 and every folder 0700: the database, recordings, evidence, manifests,
    keys and exports. The folders and database files of an earlier run are tightened too.
    """
    os.umask(0o077)
    for folder in (settings.data_dir, settings.recordings_dir, settings.signing_key_path.parent):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
    if settings.database_url is None:
        for suffix in ("", "-wal", "-shm"):
            path = settings.data_dir / f"dualrec.db{suffix}"
            if path.exists():
                path.chmod(0o600)


async def _audit_cache(app: web.Application) -> AsyncIterator[None]:
    """The auditor's local copies of recording parts, removed when the server stops."""
    root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="dualrec-audit-"))
    cache = agent_console.RecordingCache(app[RECORDINGS], root)
    app[agent_console.AUDIT_CACHE] = cache
    yield
    await asyncio.to_thread(cache.clear)


async def _recover(db: Database, recordings_dir: Path, key: Ed25519PrivateKey) -> None:
    """Calls cut by the previous run become interrupted; their recording parts are closed."""
    interrupted, failed = await db.interrupt_open_sessions("server restarted", datetime.now(UTC))
    if failed:
        logger.warning("%d queued sessions were left by a previous run: marked failed", failed)
    # Also those a previous start could not close (it died too): closing is idempotent.
    for session in await db.list_sessions(limit=1000, status="interrupted"):
        try:
            await close_interrupted_part(db, recordings_dir, session.id, key)
        except (MediaError, OSError) as exc:
            logger.error("session %s: the interrupted part cannot be closed: %s", session.id, exc)
    if interrupted:
        logger.warning("%d calls were cut by a restart: interrupted, resumable", len(interrupted))
