"""Where recording files are kept: the protocol, the local folder and the async uploader."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

from common import sha256_file

from .errors import NotFound, StorageError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256_HEX = frozenset("0123456789abcdef")


class ChecksumMismatch(StorageError, ValueError):
    """A file's or a stored object's SHA-256 is not the one expected."""

    def __init__(self, key: str, where: str, expected: str, actual: str | None) -> None:
        super().__init__(f"{key}: SHA-256 of {where} is {actual}, expected {expected}")
        self.key, self.where, self.expected, self.actual = key, where, expected, actual


class UploadFailed(StorageError, ConnectionError):
    """An upload still failed after its last attempt; the local file is kept."""

    def __init__(self, key: str, attempts: int, reason: str) -> None:
        super().__init__(f"upload of {key} failed after {attempts} attempt(s): {reason}")
        self.key, self.attempts, self.reason = key, attempts, reason


class RetentionLocked(StorageError, PermissionError):
    """Object Lock (a retention period or a legal hold) refuses to delete a recording."""

    def __init__(self, key: str, until: datetime | None, legal_hold: bool) -> None:
        why = [f"retained until {until.isoformat()}"] if until is not None else []
        why += ["under legal hold"] if legal_hold else []
        super().__init__(f"cannot delete {key}: Object Lock, {' and '.join(why) or 'locked'}")
        self.key, self.until, self.legal_hold = key, until, legal_hold


@dataclass(frozen=True)
class StoredObject:
    """A recording file confirmed in a store, and until when it is locked."""

    key: str
    url: str
    sha256: str
    size: int
    version_id: str | None = None
    retain_until: datetime | None = None


class Retention(NamedTuple):
    """An object's Object Lock retention: mode (COMPLIANCE, GOVERNANCE or None) and date."""

    mode: str | None
    until: datetime | None


class Readable(Protocol):
    """A binary stream opened on a stored recording file."""

    def read(self, size: int | None = ..., /) -> bytes:
        """Up to ``size`` bytes (all that is left when omitted); b"" at the end."""
        ...

    def close(self) -> None:
        """Release the file or connection."""
        ...


class RecordingStore(Protocol):
    """Where recording files are kept; every method blocks: call it from a worker thread."""

    def put(
        self,
        key: str,
        path: Path,
        sha256: str,
        *,
        business_type: str,
        recorded_at: datetime,
        contract_ends_at: datetime | None = None,
    ) -> StoredObject:
        """Store the file at ``path`` as ``key``; return once its SHA-256 is confirmed there."""
        ...

    def open(self, key: str) -> Readable:
        """A stream of the stored file's bytes."""
        ...

    def read(self, key: str) -> bytes:
        """The whole stored file."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        ...

    def delete(self, key: str) -> None:
        """Delete ``key``, if the store's retention allows it."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a relative POSIX path that stays inside the store."""
    parts = key.split("/")
    if (
        "\\" in key
        or any(part in ("", ".", "..") for part in parts)
        or not key.isprintable()
        or len(key) > 900
    ):
        raise StorageError(f"invalid recording key {key!r}; expected a relative path like S/f.webm")
    return key


def check_sha256(key: str, sha256: str) -> str:
    """Return ``sha256`` if it is 64 lower-case hex digits."""
    if len(sha256) != 64 or not set(sha256) <= _SHA256_HEX:
        raise StorageError(f"{key}: sha256 must be 64 lower-case hex digits, got {sha256!r}")
    return sha256


def verified_local_size(key: str, path: Path, sha256: str) -> int:
    """Size of the local file after checking its SHA-256 (blocking)."""
    try:
        size, actual = path.stat().st_size, sha256_file(path)
    except FileNotFoundError:
        raise NotFound("recording file", str(path)) from None
    except OSError as exc:
        raise StorageError(f"{key}: cannot read {path}: {exc}") from exc
    if actual != sha256:
        raise ChecksumMismatch(key, f"local file {path}", sha256, actual)
    return size


class LocalStore:
    """The recordings folder as it is: files stay where the recorder wrote them.

    It cannot enforce retention: ``delete`` removes a file at once, so callers must check
    the policy themselves, and anyone with access to the folder can change it (the
    manifest's signature and hash chain still reveal it).
    """

    def __init__(self, root: Path) -> None:
        """Keep recordings under ``root``."""
        self.root = root

    def path(self, key: str) -> Path:
        """The file holding ``key``."""
        return self.root / check_key(key)

    def put(
        self,
        key: str,
        path: Path,
        sha256: str,
        *,
        business_type: str,
        recorded_at: datetime,
        contract_ends_at: datetime | None = None,
    ) -> StoredObject:
        """Check that the file is already at ``key`` with this SHA-256 (nothing is copied)."""
        target = self.path(key)
        if path.absolute() != target.absolute():
            raise StorageError(f"{key}: LocalStore keeps files in place; {path} is not {target}")
        size = verified_local_size(key, target, check_sha256(key, sha256))
        return StoredObject(key, target.absolute().as_uri(), sha256, size)

    def open(self, key: str) -> Readable:
        """Open the file of ``key`` for reading."""
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise NotFound("recording file", key) from None
        except OSError as exc:
            raise StorageError(f"{key}: cannot open: {exc}") from exc

    def read(self, key: str) -> bytes:
        """The whole file of ``key``."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound("recording file", key) from None
        except OSError as exc:
            raise StorageError(f"{key}: cannot read: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a file."""
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Delete the file of ``key`` at once (no retention check: see the class)."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            raise NotFound("recording file", key) from None
        except OSError as exc:
            raise StorageError(f"{key}: cannot delete: {exc}") from exc


@runtime_checkable
class OffloadingStore(RecordingStore, Protocol):
    """A store that can take over a file, so that the local copy may be deleted."""

    def delete_local_after_upload(self, key: str, path: Path, sha256: str) -> StoredObject:
        """Delete the local file once the stored copy is confirmed to match ``sha256``."""
        ...


class Uploader:
    """Uploads recording segments on worker threads (bounded), awaited by the server.

    The store retries transient failures; a segment that still fails raises
    UploadFailed and its local file is kept. Once accepted, an upload runs to its end
    even if the awaiting task is cancelled; ``close`` waits for all of them.
    """

    def __init__(
        self, store: RecordingStore, *, concurrency: int = 4, delete_local: bool = False
    ) -> None:
        """Upload to ``store`` with at most ``concurrency`` uploads at once."""
        if concurrency < 1:
            raise StorageError(f"concurrency must be >= 1, got {concurrency}")
        if delete_local and not isinstance(store, OffloadingStore):
            raise StorageError(f"{type(store).__name__} keeps the only copy: cannot delete local")
        self._offload = store if delete_local and isinstance(store, OffloadingStore) else None
        self._store = store
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="dualrec-upload")
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False

    async def upload_segment(
        self,
        session_id: str,
        local_path: Path,
        sha256: str,
        business_type: str,
        recorded_at: datetime,
        *,
        contract_ends_at: datetime | None = None,
        name: str | None = None,
    ) -> StoredObject:
        """Upload one segment as ``<session_id>/<name or file name>``; return once confirmed."""
        if self._closed:
            raise StorageError(f"session {session_id}: uploader is closed")
        key = check_key(f"{session_id}/{name or local_path.name}")

        def work() -> StoredObject:
            stored = self._store.put(
                key,
                local_path,
                sha256,
                business_type=business_type,
                recorded_at=recorded_at,
                contract_ends_at=contract_ends_at,
            )
            if self._offload is not None:
                self._offload.delete_local_after_upload(key, local_path, sha256)
            return stored

        with self._lock:
            self._pending += 1
        try:
            future = self._executor.submit(work)
        except RuntimeError as exc:  # shut down between the check and here
            self._done()
            raise StorageError(f"session {session_id}: uploader is closed") from exc
        future.add_done_callback(lambda _: self._done())
        return await asyncio.shield(asyncio.wrap_future(future))

    def pending(self) -> int:
        """Uploads accepted and not yet finished (queued or running)."""
        with self._lock:
            return self._pending

    async def close(self) -> None:
        """Refuse new uploads and wait for those under way."""
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1


class TieredStore:
    """The local folder in front of object storage: reads the local copy while it exists.

    New files reach the object store through the shipper, which deletes the local copy
    once the stored object is confirmed; reads then fall through to the object store.
    """

    def __init__(self, local: LocalStore, remote: RecordingStore) -> None:
        """Read ``local`` first, then ``remote``."""
        self.local, self.remote = local, remote

    def put(
        self,
        key: str,
        path: Path,
        sha256: str,
        *,
        business_type: str,
        recorded_at: datetime,
        contract_ends_at: datetime | None = None,
    ) -> StoredObject:
        """Store the file in the object store (the local copy is left as it is)."""
        return self.remote.put(
            key,
            path,
            sha256,
            business_type=business_type,
            recorded_at=recorded_at,
            contract_ends_at=contract_ends_at,
        )

    def open(self, key: str) -> Readable:
        """The local file of ``key`` if it is still there, else the stored object."""
        try:
            return self.local.open(key)
        except NotFound:
            return self.remote.open(key)

    def read(self, key: str) -> bytes:
        """The whole file, from the local copy if it is still there."""
        try:
            return self.local.read(key)
        except NotFound:
            return self.remote.read(key)

    def exists(self, key: str) -> bool:
        """Whether ``key`` is in either tier."""
        return self.local.exists(key) or self.remote.exists(key)

    def delete(self, key: str) -> None:
        """Delete the stored object (Object Lock may refuse), then any local copy."""
        self.remote.delete(key)
        if self.local.exists(key):
            self.local.delete(key)
