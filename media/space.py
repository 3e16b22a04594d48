"""Room to close the recordings when their disk fills up: a reserve file, and the disk-full state.

A recording cut by a full disk must still be closed: its last segments chained, its
manifest signed. Those writes need space the media has just used up. So the recordings
folder holds a reserve file (``.space-reserve``, allocated, never read); the first write
refused for want of space (ENOSPC, EDQUOT) marks the disk full and deletes the reserve,
and the closing writes (chain lines, manifests) use what it gave back. While the disk is
full no recording starts; once the disk has room for the reserve twice over, the reserve
is made again and recordings start as before.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

#: The reserve's size: the chain lines and signed manifests of many calls closing at once.
RESERVE_BYTES = 4 * 1024 * 1024
RESERVE_FILE = ".space-reserve"
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a write refused for want of space."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "errno", None) in _FULL:
            return True
        current = current.__cause__ or current.__context__
    return False


class SpaceReserve:
    """The recordings disk's reserve file and whether the disk is full (thread-safe)."""

    def __init__(self, root: Path, size: int = RESERVE_BYTES) -> None:
        self.root = root
        self.size = size
        self.path = root / RESERVE_FILE
        #: When the disk was found full (None while it has room).
        self.full_since: datetime | None = None
        self.detail = ""
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        """Whether the disk was found full and has not had room again since."""
        return self.full_since is not None

    def ensure(self) -> bool:
        """Make the reserve if it is missing; whether recordings may start (blocking).

        A disk found full counts as full until it has room for the reserve twice over.
        """
        with self._lock:
            if self.full_since is not None and self._free() < 2 * self.size:
                return False
            try:
                self._make()
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                self._trip(f"no room for the reserve: {exc}")
                return False
            if self.full_since is not None:
                logger.warning("recordings disk has room again: %d MB free", self._free() >> 20)
                self.full_since, self.detail = None, ""
            return True

    def trip(self, detail: str) -> bool:
        """The disk is full: give the reserve back for closing; True the first time."""
        with self._lock:
            return self._trip(detail)

    def problems(self) -> list[str]:
        """The disk-full condition in words for operators (empty when there is room)."""
        since = self.full_since
        if since is None:
            return []
        return [
            f"recordings disk full since {since.isoformat(timespec='seconds')} "
            f"({self._free() >> 20} MB free): calls cannot be recorded ({self.detail})"
        ]

    def check(self) -> list[str]:
        """Look again whether a full disk has room now; its problems then (blocking)."""
        if self.full:
            self.ensure()
        return self.problems()

    def _trip(self, detail: str) -> bool:
        self.path.unlink(missing_ok=True)
        if self.full_since is not None:
            return False
        self.full_since, self.detail = datetime.now(UTC), detail
        logger.error("recordings disk full (%s): reserve released for closing", detail)
        return True

    def _make(self) -> None:
        try:
            if self.path.stat().st_size == self.size:
                return
        except FileNotFoundError:
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.size)  # blocks really taken, not a sparse file
            os.fsync(fd)
        except OSError:
            self.path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)

    def _free(self) -> int:
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return 0
