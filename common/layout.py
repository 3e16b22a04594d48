"""Where a recording's parts live: the one home of the ``part-N`` folder rule.

A session's first recording part is the session's own folder ``<session id>``; each part
recorded after a resumption is a sub-folder ``<session id>/part-<n>`` (n = 2, 3, ...). The
same relative paths are the keys in object storage and the paths stored in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PART_PREFIX = "part-"
#: Every part's hash chain (one line per file, appended as each closes) and signed manifest.
CHAIN_FILE = "chain.jsonl"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True, slots=True)
class RecordingLayout:
    """One recording part of one session: its folder and its files' relative paths."""

    session_id: str
    part: int = 1

    def __post_init__(self) -> None:
        if self.part < 1:
            raise ValueError(f"recording parts are numbered from 1, not {self.part}")

    @property
    def folder(self) -> str:
        """The part's folder relative to the recordings root (also its object-store prefix)."""
        if self.part == 1:
            return self.session_id
        return f"{self.session_id}/{PART_PREFIX}{self.part}"

    @property
    def within_session(self) -> str:
        """The part's folder relative to the session's folder ('' for part 1)."""
        return "" if self.part == 1 else f"{PART_PREFIX}{self.part}"

    def directory(self, root: Path) -> Path:
        """The part's folder under the recordings root ``root``."""
        return root / self.folder

    def path_of(self, name: str) -> str:
        """The relative path (from the recordings root) of file ``name`` in this part."""
        return f"{self.folder}/{name}"

    def in_session(self, name: str) -> str:
        """The path of file ``name`` relative to the session's folder."""
        return name if self.part == 1 else f"{self.within_session}/{name}"

    def next(self) -> RecordingLayout:
        """The layout of the part recorded after this one."""
        return RecordingLayout(self.session_id, self.part + 1)

    @staticmethod
    def part_of(name: str) -> int | None:
        """The part number of a sub-folder named ``name`` (``part-3`` -> 3), else None."""
        if not name.startswith(PART_PREFIX):
            return None
        digits = name[len(PART_PREFIX) :]
        if not digits.isdigit() or digits.startswith("0") or int(digits) < 2:
            return None
        return int(digits)

    @classmethod
    def of_key(cls, key: str) -> tuple[RecordingLayout, str] | None:
        """Split a relative path ``<session>[/part-<n>]/<file>`` into its part and file name."""
        pieces = PurePosixPath(key).parts
        if len(pieces) == 2:
            return cls(pieces[0]), pieces[1]
        if len(pieces) == 3 and (part := cls.part_of(pieces[1])) is not None:
            return cls(pieces[0], part), pieces[2]
        return None

    @classmethod
    def parts_in(cls, session_folder: Path) -> Iterator[tuple[RecordingLayout, Path]]:
        """Each part found in a session's folder on disk, part 1 first, with its directory."""
        session_id = session_folder.name
        yield cls(session_id), session_folder
        later = []
        for child in session_folder.iterdir():
            part = cls.part_of(child.name)
            if part is not None and child.is_dir():
                later.append((part, child))
        for part, child in sorted(later):
            yield cls(session_id, part), child
