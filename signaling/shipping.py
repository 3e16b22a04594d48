"""Shipping recordings to object storage as they are finished: the RecordingShipper.

Each segment is uploaded as soon as the recorder closes it, not at hang-up; at hang-up
the part's archive follows (evidence files, ``chain.jsonl``, ``manifest.json``), and the
composite with its captions once it is made, with the manifest signed again over them.
Every object is locked in COMPLIANCE mode until the date the retention policy gives for
the session's business type, and that date is kept in ``sessions.retain_until``.

A failed upload stays queued and is tried again, backing off; a server stopped before
it succeeded finds the file at its next start, when the recordings folder is scanned.
A local copy is deleted only once the stored object's SHA-256 is confirmed, and only
when its part is sealed: the composite is made from the local segments after hang-up,
so they stay until it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import PART_PREFIX, RecordingLayout
from dualrec.settings import Settings
from media import SegmentInfo
from media.integrity import CHAIN_FILE, MANIFEST_FILE
from storage import Database, NotFound, StorageError, StorageUnavailable
from storage.objectstore import ChecksumMismatch, StoredObject, file_sha256
from storage.retention import RetentionPolicy
from storage.retention_records import extend_retain_until
from storage.s3store import S3Store

from .session import LiveSession

logger = logging.getLogger(__name__)

#: Files rewritten after hang-up (the chain grows with the composite, the manifest is
#: signed again): shipped again each time the part is scanned.
MUTABLE = frozenset({CHAIN_FILE, MANIFEST_FILE})
_PART_PREFIX = PART_PREFIX


@dataclass(frozen=True)
class PartRef:
    """One recording part, as its objects are keyed and locked."""

    session_id: str
    part: int
    business_type: str
    recorded_at: datetime

    @property
    def directory(self) -> str:
        """The part's folder relative to the recordings root (the key prefix)."""
        return RecordingLayout(self.session_id, self.part).folder

    @classmethod
    def of(cls, session: LiveSession) -> PartRef:
        """The part a live session is recording (its recording time is the part's start)."""
        t0 = session.t0
        started = datetime.now(UTC) if t0 is None else datetime.fromtimestamp(t0, UTC)
        return cls(session.id, session.part, session.service, started)


@dataclass
class _Job:
    """One file to ship: upload it, then (once its part is sealed) delete the local copy."""

    key: str
    path: Path
    part: PartRef
    #: The recorder's SHA-256, or None: hashed just before the upload (archive files).
    sha256: str | None
    #: After a restart the object may be stored already: confirm before uploading.
    check_first: bool = False
    #: Set once stored: only the local copy is left to delete.
    stored: StoredObject | None = None
    tries: int = 0


@dataclass
class ShipperStats:
    """What the shipper has done since the server started (for /healthz and logs)."""

    uploaded: int = 0
    deleted_local: int = 0
    retried: int = 0
    failed: int = 0
    last_error: str | None = None


class RecordingShipper:
    """Uploads finished recording files to an Object Lock bucket, off the event loop."""

    def __init__(
        self,
        store: S3Store,
        db: Database,
        recordings_dir: Path,
        *,
        keep_local: bool = False,
        concurrency: int = 2,
        retry_s: float = 1.0,
        retry_max_s: float = 60.0,
        owns_store: bool = False,
    ) -> None:
        """Ship files of ``recordings_dir`` to ``store``; ``concurrency`` uploads at once.

        With ``owns_store`` :meth:`close` closes the store's client too.
        """
        if concurrency < 1 or retry_s <= 0 or retry_max_s < retry_s:
            raise StorageError(
                f"invalid shipper settings: concurrency={concurrency}, retry_s={retry_s}, "
                f"retry_max_s={retry_max_s}"
            )
        self.store, self.db, self.recordings_dir = store, db, recordings_dir
        self.keep_local, self._owns_store = keep_local, owns_store
        self.concurrency, self.retry_s, self.retry_max_s = concurrency, retry_s, retry_max_s
        self.stats = ShipperStats()
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="dualrec-ship")
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        #: Outstanding jobs by key: queued, running or waiting to be tried again.
        self._jobs: dict[str, _Job] = {}
        self._running: set[str] = set()
        #: Keys asked for again while their upload ran (a manifest signed again).
        self._again: dict[str, tuple[PartRef, str | None]] = {}
        #: Part folder -> names shipped (or queued) while the part was open.
        self._seen: dict[str, set[str]] = {}
        #: Part folder -> files stored while the part was open: deleted when it is sealed.
        self._unsealed: dict[str, dict[str, _Job]] = {}
        self._sealed: set[str] = set()
        self._retained: dict[str, datetime] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._closed = False

    # -- what the call centre calls ------------------------------------------------------

    @property
    def pending(self) -> int:
        """Files not yet confirmed in the store (queued, uploading or waiting to retry)."""
        return len(self._jobs)

    def summary(self) -> dict[str, Any]:
        """Pending uploads and counters, for /healthz (no personal data)."""
        return {
            "pending": self.pending,
            "uploaded": self.stats.uploaded,
            "deleted_local": self.stats.deleted_local,
            "retried": self.stats.retried,
            "failed": self.stats.failed,
            "last_error": self.stats.last_error,
        }

    def segment_closed(self, session: LiveSession, info: SegmentInfo) -> None:
        """Ship a segment the recorder has just closed (its SHA-256 is the recorder's)."""
        if info.closed:
            self.ship(PartRef.of(session), info.path, info.sha256)

    def archive_closed(self, session: LiveSession, job: asyncio.Future[Any] | None) -> None:
        """Ship the part's archive now, and again with the composite once ``job`` is done."""
        self._spawn(self._close_part(PartRef.of(session), job))

    # -- the queue -------------------------------------------------------------------------

    def ship(
        self, part: PartRef, name: str, sha256: str | None = None, *, check_first: bool = False
    ) -> None:
        """Queue ``part``'s file ``name`` for upload (a no-op once closing)."""
        if self._closing:
            return  # the next start finds it in the folder
        key = f"{part.directory}/{name}"
        self._seen.setdefault(part.directory, set()).add(name)
        job = self._jobs.get(key)
        if job is not None:
            if key in self._running:
                self._again[key] = (part, sha256)
            else:  # queued or waiting: ship what the file holds by then
                job.sha256, job.stored = sha256, None
            return
        job = _Job(key, self.recordings_dir / key, part, sha256, check_first)
        self._jobs[key] = job
        self._idle.clear()
        self._queue.put_nowait(job)

    async def ship_part(self, part: PartRef) -> None:
        """Queue the part folder's files not shipped yet, and the ones rewritten since."""
        folder = self.recordings_dir / part.directory
        names = await asyncio.to_thread(_part_files, folder)
        seen = self._seen.get(part.directory, set())
        for name in names:
            if name in MUTABLE or name not in seen:
                self.ship(part, name)

    def seal(self, part: PartRef) -> None:
        """Nothing in the part will change: local copies may go once their objects are confirmed."""
        directory = part.directory
        self._sealed.add(directory)
        self._seen.pop(directory, None)
        if self.keep_local:
            self._unsealed.pop(directory, None)
            return
        for job in self._unsealed.pop(directory, {}).values():
            if job.key not in self._jobs:  # not asked for again since
                self._jobs[job.key] = job
                self._idle.clear()
                self._queue.put_nowait(job)
        logger.info("session %s: part %d sealed", part.session_id, part.part)

    async def _close_part(self, part: PartRef, job: asyncio.Future[Any] | None) -> None:
        await self.ship_part(part)
        if job is not None:
            await asyncio.wait([job])  # its failure is the archive's to report
            await self.ship_part(part)
        self.seal(part)

    # -- start and stop --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the uploads; queue what a previous run left in the recordings folder.

        The folder is listed before this returns (before the server takes calls), so
        that no live recording is taken for a leftover.
        """
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        leftovers = await asyncio.to_thread(_list_parts, self.recordings_dir)
        if leftovers:
            self._spawn(self._rescan(leftovers))

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending (or ``timeout``); whether it all got stored."""
        try:
            async with asyncio.timeout(timeout):
                while self._tasks or self._jobs:
                    await asyncio.gather(*list(self._tasks), return_exceptions=True)
                    if self._jobs:
                        await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, drain_s: float = 30.0) -> None:
        """Finish what can be finished within ``drain_s``; leave the rest for the next start.

        Uploads that keep failing are not tried again while closing; a local file is
        never deleted unless its object is confirmed.
        """
        if self._closed:
            return
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._closing = True
        for timer in self._timers:
            timer.cancel()
        for job in [j for j in self._jobs.values() if j.tries and j.key not in self._running]:
            self._jobs.pop(job.key, None)  # waiting to retry: left for the next start
        if self._jobs and not await self.drain(drain_s):
            logger.warning("shutting down with %d upload(s) pending: next start", self.pending)
        self._closed = True
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        if self._owns_store:
            await asyncio.to_thread(self.store.close)
        logger.info("recording shipper closed: %s", self.summary())

    # -- the workers -----------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            if self._jobs.get(job.key) is not job:
                continue  # dropped while queued (closing)
            self._running.add(job.key)
            retry = False
            try:
                retry = await self._run(job)
            finally:
                self._running.discard(job.key)
                self._finish(job, retry)

    async def _run(self, job: _Job) -> bool:
        """Upload, then delete the local copy if the part is sealed; whether to retry."""
        session_id = job.part.session_id
        try:
            if job.stored is None:
                job.stored = await self._blocking(self._upload, job)
                self.stats.uploaded += 1
                await self._record_retention(session_id, job.stored)
            if self.keep_local:
                return False
            if job.part.directory not in self._sealed:
                # The last upload of a key is the one whose local copy may go.
                self._unsealed.setdefault(job.part.directory, {})[job.key] = job
                return False
            await self._blocking(
                self.store.delete_local_after_upload, job.key, job.path, job.stored.sha256
            )
            self.stats.deleted_local += 1
            return False
        except NotFound as exc:
            if exc.kind == "recording file":  # the local file is gone: nothing to ship
                logger.warning("session %s: %s is no longer there; skipped", session_id, job.key)
                return False
            return self._failed(job, exc)
        except ChecksumMismatch as exc:
            if exc.where.startswith("local") and job.sha256 is not None:
                # The file is not what the recorder wrote: keep it for an investigator.
                self.stats.failed += 1
                self.stats.last_error = str(exc)
                logger.error("session %s: %s not shipped: %s", session_id, job.key, exc)
                return False
            if job.sha256 is None:  # an archive file rewritten since: hash and upload again
                job.stored = None
            return self._failed(job, exc)
        except StorageError as exc:
            return self._failed(job, exc)

    def _upload(self, job: _Job) -> StoredObject:
        """Hash (if need be), confirm or upload one file (worker thread)."""
        try:
            sha256 = job.sha256 or file_sha256(job.path)
        except FileNotFoundError:
            raise NotFound("recording file", str(job.path)) from None
        except OSError as exc:
            raise StorageError(f"{job.key}: cannot read {job.path}: {exc}") from exc
        if job.check_first:
            with contextlib.suppress(StorageError):
                return self.store.confirm(job.key, sha256)
        return self.store.put(
            job.key,
            job.path,
            sha256,
            business_type=job.part.business_type,
            recorded_at=job.part.recorded_at,
        )

    async def _blocking(self, call: Any, *args: Any) -> Any:
        # Shielded: a cancelled worker leaves the thread to finish its request.
        loop = asyncio.get_running_loop()
        return await asyncio.shield(loop.run_in_executor(self._executor, call, *args))

    def _failed(self, job: _Job, exc: StorageError) -> bool:
        """Try again later (a failed upload stays queued), unless shutting down."""
        job.tries += 1
        self.stats.last_error = str(exc)
        if self._closing:
            logger.warning(
                "session %s: %s left for the next start: %s", job.part.session_id, job.key, exc
            )
            self._drop_queued()
            return False
        delay = min(self.retry_max_s, self.retry_s * 2 ** (job.tries - 1))
        self.stats.retried += 1
        logger.warning(
            "session %s: shipping %s failed (%s); try %d in %.1f s",
            job.part.session_id,
            job.key,
            exc,
            job.tries + 1,
            delay,
        )
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def again() -> None:
            self._timers.discard(timer)
            if self._jobs.get(job.key) is job and not self._closing:
                self._queue.put_nowait(job)

        timer = loop.call_later(delay, again)
        self._timers.add(timer)
        return True

    def _drop_queued(self) -> None:
        """Closing and the store fails: leave everything not under way for the next start."""
        for key in [k for k in self._jobs if k not in self._running]:
            del self._jobs[key]

    def _finish(self, job: _Job, retry: bool) -> None:
        """The job ran: forget it unless it waits to retry; ship again if asked meanwhile."""
        again = self._again.pop(job.key, None)
        if retry:
            if again is not None:
                job.sha256, job.stored = again[1], None
        else:
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]
            if again is not None:
                self.ship(again[0], job.key.rsplit("/", 1)[1], again[1])
        if not self._jobs:
            self._idle.set()

    async def _record_retention(self, session_id: str, stored: StoredObject) -> None:
        until, known = stored.retain_until, self._retained.get(session_id)
        if until is None or (known is not None and known >= until):
            return
        try:
            self._retained[session_id] = await extend_retain_until(self.db, session_id, until)
        except StorageError as exc:  # the object is locked all the same; tried again next time
            logger.error("session %s: retain_until not recorded: %s", session_id, exc)

    # -- after a restart -------------------------------------------------------------------

    async def _rescan(self, leftovers: list[_Leftover]) -> None:
        """Queue the files a previous run left; parts with a signed manifest are sealed."""
        details: dict[str, Any] = {}
        for left in leftovers:
            if left.session_id not in details:
                try:
                    details[left.session_id] = (await self.db.get_session(left.session_id)).session
                except NotFound:
                    logger.warning(
                        "session %s: recording folder with no session row; not shipped",
                        left.session_id,
                    )
                    details[left.session_id] = None
            stored = details[left.session_id]
            if stored is None:
                continue
            started = stored.started_at or stored.created_at
            # A later part was recorded after its first file's time at the earliest:
            # never a shorter lock than the policy gives.
            recorded = started if left.part <= 1 else max(started, left.earliest)
            part = PartRef(left.session_id, left.part, stored.service, recorded)
            if MANIFEST_FILE in left.names:
                self._sealed.add(part.directory)
            for name in left.names:
                self.ship(part, name, check_first=True)
            self._seen.pop(part.directory, None)
            logger.info(
                "session %s: %d file(s) of part %d left by a previous run queued",
                left.session_id,
                len(left.names),
                left.part,
            )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def open_shipper(settings: Settings, db: Database) -> RecordingShipper | None:
    """The started shipper for ``settings``' bucket, or None when S3 is not configured.

    A bucket without Object Lock (or missing) stops the server: recordings there could
    be deleted. An unreachable endpoint does not: recording goes on and uploads wait.
    """
    if not settings.s3_bucket:
        return None
    policy = await asyncio.to_thread(RetentionPolicy.load, settings.retention_policy)
    store = S3Store(
        settings.s3_bucket,
        policy=policy,
        endpoint_url=settings.s3_endpoint,
        region=settings.s3_region,
        prefix=settings.s3_prefix,
        sse=settings.s3_sse,
        kms_key_id=settings.s3_kms_key_id,
        # The shipper tries again on its own schedule: a short burst here is enough.
        attempts=3,
        timeout_s=30.0,
    )
    try:
        await asyncio.to_thread(store.ensure_bucket, create=False)
    except StorageUnavailable as exc:
        logger.error("object storage unreachable at start (uploads will wait): %s", exc)
    except StorageError:
        await asyncio.to_thread(store.close)
        raise
    shipper = RecordingShipper(
        store,
        db,
        settings.recordings_dir,
        keep_local=settings.s3_keep_local,
        retry_s=min(1.0, settings.s3_retry_max_s),
        retry_max_s=settings.s3_retry_max_s,
        owns_store=True,
    )
    await shipper.start()
    logger.info(
        "recordings ship to %s (%s, retention policy %s)",
        store.url(""),
        "local copies kept" if settings.s3_keep_local else "local copies deleted once confirmed",
        policy.source,
    )
    return shipper


@dataclass(frozen=True)
class _Leftover:
    """A part folder's files found at start."""

    session_id: str
    part: int
    names: tuple[str, ...]
    earliest: datetime


def _part_files(folder: Path) -> list[str]:
    """The part's own files: not sub-folders, temporary or partial files (blocking)."""
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return []
    return sorted(
        p.name
        for p in entries
        if p.is_file() and not p.name.startswith(".") and ".partial" not in p.name
    )


def _list_parts(root: Path) -> list[_Leftover]:
    """Every part folder holding files under the recordings root (blocking)."""
    found: list[_Leftover] = []
    if not root.is_dir():
        return found
    for session in sorted(p for p in root.iterdir() if p.is_dir()):
        folders = [(1, session)] + [
            (int(p.name[len(_PART_PREFIX) :]), p)
            for p in session.iterdir()
            if p.is_dir()
            and p.name[len(_PART_PREFIX) :].isdigit()
            and p.name.startswith(_PART_PREFIX)
        ]
        for part, folder in sorted(folders):
            names = _part_files(folder)
            if names:
                earliest = min((folder / n).stat().st_mtime for n in names)
                found.append(
                    _Leftover(
                        session.name, part, tuple(names), datetime.fromtimestamp(earliest, UTC)
                    )
                )
    return found
