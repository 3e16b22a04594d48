"""What a previous run left in the recordings folder: the part folders holding files.

At start the shipper queues these; a part whose manifest is signed is sealed (nothing
in it will change), the others stay open until their call's part is closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from common import CHAIN_FILE, MANIFEST_FILE, RecordingLayout

from .database import Database
from .errors import NotFound
from .shipments import RecordingRef
from .views import SessionView

logger = logging.getLogger(__name__)

#: Files rewritten after hang-up (the chain grows with the composite, the manifest is
#: signed again): shipped again each time the part is scanned.
MUTABLE = frozenset({CHAIN_FILE, MANIFEST_FILE})


@dataclass(frozen=True)
class Leftover:
    """A part folder's files found at start, and the time of the earliest."""

    layout: RecordingLayout
    names: tuple[str, ...]
    earliest: datetime

    @property
    def sealed(self) -> bool:
        """Whether the part's manifest is signed: nothing in it will change."""
        return MANIFEST_FILE in self.names


def part_files(folder: Path) -> list[str]:
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


def list_parts(root: Path) -> list[Leftover]:
    """Every part folder holding files under the recordings root (blocking)."""
    found: list[Leftover] = []
    if not root.is_dir():
        return found
    for session in sorted(p for p in root.iterdir() if p.is_dir()):
        for layout, folder in RecordingLayout.parts_in(session):
            names = part_files(folder)
            if names:
                earliest = min((folder / n).stat().st_mtime for n in names)
                found.append(Leftover(layout, tuple(names), datetime.fromtimestamp(earliest, UTC)))
    return found


async def leftover_refs(
    db: Database, leftovers: list[Leftover]
) -> list[tuple[RecordingRef, Leftover]]:
    """Each leftover part with its reference, read from its session's row (none: skipped)."""
    sessions: dict[str, SessionView | None] = {}
    found: list[tuple[RecordingRef, Leftover]] = []
    for left in leftovers:
        session_id = left.layout.session_id
        if session_id not in sessions:
            try:
                sessions[session_id] = (await db.get_session(session_id)).session
            except NotFound:
                logger.warning(
                    "session %s: recording folder with no session row; not shipped", session_id
                )
                sessions[session_id] = None
        stored = sessions[session_id]
        if stored is None:
            continue
        started = stored.started_at or stored.created_at
        # A later part was recorded after its first file's time at the earliest:
        # never a shorter lock than the policy gives.
        recorded = started if left.layout.part <= 1 else max(started, left.earliest)
        found.append((RecordingRef(left.layout, stored.service, recorded), left))
    return found
