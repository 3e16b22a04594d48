"""Shipping recordings to object storage as they are finished: the RecordingShipper.

Each segment is uploaded as soon as the recorder closes it, not at hang-up; at hang-up
the part's archive follows (evidence files, ``chain.jsonl``, ``manifest.json``), and the
composite with its captions once it is made, with the manifest signed again over them
(the post-call ship job of ``jobs/`` calls :meth:`RecordingShipper.ship_closed`).
Every object is locked in COMPLIANCE mode until the date the retention policy gives for
the session's business type, and that date is kept in ``sessions.retain_until``.

A failed upload stays queued and is tried again, backing off; a server stopped before
it succeeded finds the file at its next start, when the recordings folder is scanned
(``storage.leftovers``). A local copy is deleted only once the stored object's SHA-256
is confirmed, and only when its part is sealed: the composite is made from the local
segments after hang-up, so they stay until it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from common import BackgroundTasks, RecordingLayout, sha256_file

from .database import Database
from .errors import NotFound, StorageError
from .leftovers import MUTABLE, Leftover, leftover_refs, list_parts, part_files
from .objectstore import ChecksumMismatch, StoredObject
from .retention_records import extend_retain_until
from .s3store import S3Store
from .shipments import PartState, RecordingRef, Shipment, ShipperStats

__all__ = ["RecordingRef", "RecordingShipper", "ShipperStats"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


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
        self._queue: asyncio.Queue[Shipment] = asyncio.Queue()
        #: The parts with work outstanding (or open), by folder.
        self._parts: dict[str, PartState] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._tasks = BackgroundTasks("shipping")
        self._timers: set[asyncio.TimerHandle] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._changed = asyncio.Event()  # set (and replaced) when a part is done
        self._closing = False
        self._closed = False

    # -- what the call centre calls ------------------------------------------------------

    @property
    def pending(self) -> int:
        """Files not yet confirmed in the store (queued, uploading or waiting to retry)."""
        return sum(len(part.jobs) for part in self._parts.values())

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

    def archive_closed(self, ref: RecordingRef, after: asyncio.Future[Any] | None) -> None:
        """Ship the part's archive now; :meth:`drain` waits for ``after`` too. Without it a
        worker's ship job seals the part: it is forgotten here once its archive is stored."""
        self._tasks.spawn(self._archive_closed(ref, after))

    async def _archive_closed(self, ref: RecordingRef, after: asyncio.Future[Any] | None) -> None:
        await self.ship_part(ref)
        if after is not None:
            await asyncio.wait([after])  # its failure is the job's to report
            return
        part = self._part(ref.layout)
        part.handed_over, part.stored_open = True, {}
        self._forget_if_idle(part)

    async def ship_closed(self, ref: RecordingRef) -> None:
        """Queue the closed part's files not stored yet (confirmed first), and seal it."""
        await self.ship_part(ref, check_first=True)
        self.seal(ref)

    async def settled(self, ref: RecordingRef, timeout: float) -> bool:
        """Wait until the sealed part's files are all stored; whether they were in time."""
        try:
            async with asyncio.timeout(timeout):
                while self._parts.get(ref.layout.folder) is not None and not self._closing:
                    await self._changed.wait()
        except TimeoutError:
            return False
        return ref.layout.folder not in self._parts

    # -- the queue -------------------------------------------------------------------------

    def ship(
        self, ref: RecordingRef, name: str, sha256: str | None = None, *, check_first: bool = False
    ) -> None:
        """Queue ``ref``'s file ``name`` for upload (a no-op once closing)."""
        if self._closing:
            return  # the next start finds it in the folder
        part = self._part(ref.layout)
        part.seen.add(name)
        job = part.jobs.get(name)
        if job is not None:
            if job.running:
                job.again = (ref, sha256)
            else:  # queued or waiting: ship what the file holds by then
                job.sha256, job.stored = sha256, None
            return
        job = Shipment(name, part, ref, sha256, check_first)
        part.jobs[name] = job
        self._idle.clear()
        self._queue.put_nowait(job)

    async def ship_part(self, ref: RecordingRef, *, check_first: bool = False) -> None:
        """Queue the part folder's files not shipped yet, and the ones rewritten since."""
        names = await asyncio.to_thread(part_files, ref.layout.directory(self.recordings_dir))
        known = self._parts.get(ref.layout.folder)
        seen = set() if known is None else known.seen
        for name in names:
            if name in MUTABLE or name not in seen:
                self.ship(ref, name, check_first=check_first)

    def seal(self, ref: RecordingRef) -> None:
        """Nothing in the part will change: local copies may go once their objects are confirmed."""
        part = self._part(ref.layout)
        part.sealed = True
        part.seen.clear()
        stored, part.stored_open = part.stored_open, {}
        if not self.keep_local:
            for job in stored.values():
                if job.name not in part.jobs:  # not asked for again since
                    part.jobs[job.name] = job
                    self._idle.clear()
                    self._queue.put_nowait(job)
            logger.info("session %s: part %d sealed", ref.session_id, ref.layout.part)
        self._forget_if_idle(part)

    def _part(self, layout: RecordingLayout) -> PartState:
        part = self._parts.get(layout.folder)
        if part is None:
            part = self._parts[layout.folder] = PartState(layout)
        return part

    def _forget_if_idle(self, part: PartState) -> None:
        if part.idle and self._parts.get(part.layout.folder) is part:
            del self._parts[part.layout.folder]
            self._changed.set()  # wakes settled()
            self._changed = asyncio.Event()

    # -- start and stop --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the uploads; queue what a previous run left in the recordings folder.

        The folder is listed before this returns (before the server takes calls), so
        that no live recording is taken for a leftover.
        """
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        leftovers = await asyncio.to_thread(list_parts, self.recordings_dir)
        if leftovers:
            self._tasks.spawn(self._rescan(leftovers))

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending (or ``timeout``); whether it all got stored."""
        try:
            async with asyncio.timeout(timeout):
                while len(self._tasks) or self.pending:
                    await self._tasks.join()
                    if self.pending:
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
        await self._tasks.join()
        self._closing = True
        self._changed.set()  # settled() stops waiting
        for timer in self._timers:
            timer.cancel()
        self._drop_queued(waiting_only=True)  # waiting to retry: left for the next start
        if self.pending and not await self.drain(drain_s):
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
            if job.part.jobs.get(job.name) is not job:
                continue  # dropped while queued (closing)
            job.running = True
            retry = False
            try:
                retry = await self._run(job)
            finally:
                job.running = False
                self._finish(job, retry)

    async def _run(self, job: Shipment) -> bool:
        """Upload, then delete the local copy if the part is sealed; whether to retry."""
        session_id = job.ref.session_id
        try:
            if job.stored is None:
                job.stored = await self._blocking(self._upload, job)
                self.stats.uploaded += 1
                await self._record_retention(job.part, session_id, job.stored)
            if self.keep_local:
                return False
            if not job.part.sealed:
                # The last upload of a key is the one whose local copy may go.
                if not job.part.handed_over:
                    job.part.stored_open[job.name] = job
                return False
            await self._blocking(
                self.store.delete_local_after_upload, job.key, self._path(job), job.stored.sha256
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

    def _path(self, job: Shipment) -> Path:
        return job.part.layout.directory(self.recordings_dir) / job.name

    def _upload(self, job: Shipment) -> StoredObject:
        """Hash (if need be), confirm or upload one file (worker thread)."""
        path = self._path(job)
        try:
            sha256 = job.sha256 or sha256_file(path)
        except FileNotFoundError:
            raise NotFound("recording file", str(path)) from None
        except OSError as exc:
            raise StorageError(f"{job.key}: cannot read {path}: {exc}") from exc
        if job.check_first:
            with contextlib.suppress(StorageError):
                return self.store.confirm(job.key, sha256)
        return self.store.put(
            job.key,
            path,
            sha256,
            business_type=job.ref.business_type,
            recorded_at=job.ref.recorded_at,
        )

    async def _blocking(self, call: Callable[..., _T], *args: Any) -> _T:
        # Shielded: a cancelled worker leaves the thread to finish its request.
        loop = asyncio.get_running_loop()
        return await asyncio.shield(loop.run_in_executor(self._executor, call, *args))

    def _failed(self, job: Shipment, exc: StorageError) -> bool:
        """Try again later (a failed upload stays queued), unless shutting down."""
        job.tries += 1
        self.stats.last_error = str(exc)
        if self._closing:
            logger.warning(
                "session %s: %s left for the next start: %s", job.ref.session_id, job.key, exc
            )
            self._drop_queued(waiting_only=False)
            return False
        delay = min(self.retry_max_s, self.retry_s * 2 ** (job.tries - 1))
        self.stats.retried += 1
        logger.warning(
            "session %s: shipping %s failed (%s); try %d in %.1f s",
            *(job.ref.session_id, job.key, exc, job.tries + 1, delay),
        )
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def again() -> None:
            self._timers.discard(timer)
            if job.part.jobs.get(job.name) is job and not self._closing:
                self._queue.put_nowait(job)

        timer = loop.call_later(delay, again)
        self._timers.add(timer)
        return True

    def _drop_queued(self, *, waiting_only: bool) -> None:
        """Closing: leave jobs not under way (or only those waiting to retry) to the next start."""
        for part in list(self._parts.values()):
            for name, job in list(part.jobs.items()):
                if not job.running and (job.tries or not waiting_only):
                    del part.jobs[name]
            self._forget_if_idle(part)

    def _finish(self, job: Shipment, retry: bool) -> None:
        """The job ran: forget it unless it waits to retry; ship again if asked meanwhile."""
        again, job.again = job.again, None
        if retry:
            if again is not None:
                job.sha256, job.stored = again[1], None
        else:
            if job.part.jobs.get(job.name) is job:
                del job.part.jobs[job.name]
            if again is not None:
                self.ship(again[0], job.name, again[1])
        self._forget_if_idle(job.part)
        if not self.pending:
            self._idle.set()

    async def _record_retention(
        self, part: PartState, session_id: str, stored: StoredObject
    ) -> None:
        until, known = stored.retain_until, part.retained
        if until is None or (known is not None and known >= until):
            return
        try:
            part.retained = await extend_retain_until(self.db, session_id, until)
        except StorageError as exc:  # the object is locked all the same; tried again next time
            logger.error("session %s: retain_until not recorded: %s", session_id, exc)

    # -- after a restart -------------------------------------------------------------------

    async def _rescan(self, leftovers: list[Leftover]) -> None:
        """Queue the files a previous run left; parts with a signed manifest are sealed."""
        for ref, left in await leftover_refs(self.db, leftovers):
            part = self._part(ref.layout)
            if left.sealed:
                part.sealed = True
            for name in left.names:
                self.ship(ref, name, check_first=True)
            part.seen.clear()
            logger.info(
                "session %s: %d file(s) of part %d left by a previous run queued",
                ref.session_id,
                len(left.names),
                ref.layout.part,
            )
