"""The hash chain of a recording part: each closed segment's SHA-256, linked to the ones before.

``HashChain`` is the chain in memory; ``ChainLog`` writes it to ``chain.jsonl`` as it grows,
one fsync'd line per segment, so that a crash loses at most the segment being closed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from common import CHAIN_FILE

from .durable import write_durably
from .errors import IntegrityError

CHAIN_FORMAT = "dualrec-chain/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[\w-][\w.-]*")  # a plain file name: never a path out of the folder
_dumps = partial(json.dumps, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(data: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that are hashed and signed."""
    try:
        return _dumps(data, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"not canonical JSON data: {exc}") from exc


@dataclass(frozen=True)
class ChainEntry:
    """One closed segment in the chain, with the link sealing it to its predecessors."""

    index: int
    file: str
    sha256: str
    bytes: int
    link: str

    def valid(self) -> bool:
        """Whether every field has its type and form (the file a plain name)."""
        return (
            all(type(n) is int and n >= 0 for n in (self.index, self.bytes))
            and all(isinstance(h, str) and _HEX64.fullmatch(h) for h in (self.sha256, self.link))
            and isinstance(self.file, str)
            and _NAME.fullmatch(self.file) is not None
        )

    @classmethod
    def parse(cls, data: object) -> ChainEntry:
        """An entry from JSON data; raises IntegrityError when malformed."""
        keys = {"index", "file", "sha256", "bytes", "link"}
        if not isinstance(data, dict) or set(data) != keys or not (entry := cls(**data)).valid():
            raise IntegrityError(f"not a valid chain entry: {data!r}")
        return entry


def chain_seed(session_id: str) -> str:
    """The predecessor of the first link: SHA-256 of the session id (hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def next_link(previous: str, entry: ChainEntry) -> str:
    """SHA-256 of the previous link's bytes, then the entry's canonical JSON (no link)."""
    fields = {k: v for k, v in asdict(entry).items() if k != "link"}
    return hashlib.sha256(bytes.fromhex(previous) + canonical_json(fields)).hexdigest()


class HashChain:
    """An append-only SHA-256 chain over a session's segments, in the order they closed."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._entries: list[ChainEntry] = []

    @property
    def entries(self) -> tuple[ChainEntry, ...]:
        """The entries in the order the segments were closed."""
        return tuple(self._entries)

    @property
    def head(self) -> str:
        """The last link (the seed while the chain is empty), hex."""
        return self._entries[-1].link if self._entries else chain_seed(self.session_id)

    def add(self, file: str, sha256: str, bytes: int) -> ChainEntry:
        """Append one closed segment; raises IntegrityError on bad or repeated input."""
        entry = ChainEntry(len(self._entries), file, sha256.lower(), bytes, self.head)
        if not entry.valid() or any(e.file == file for e in self._entries):
            raise IntegrityError(f"cannot chain {file!r} {sha256!r} {bytes!r} (bad or repeated)")
        entry = ChainEntry(entry.index, file, entry.sha256, bytes, next_link(self.head, entry))
        self._entries.append(entry)
        return entry


@dataclass
class LoadedChain:
    """What ``ChainLog.load`` read back from ``chain.jsonl``."""

    session_id: str
    entries: list[ChainEntry]
    problems: list[str] = field(default_factory=list)


class ChainLog:
    """A HashChain written to ``chain.jsonl`` as it grows, one fsync'd line per entry."""

    def __init__(self, folder: Path, session_id: str) -> None:
        self.path = folder / CHAIN_FILE
        self.chain = HashChain(session_id)
        self._lock = threading.Lock()  # add() may be called from any thread
        header = canonical_json({"format": CHAIN_FORMAT, "session_id": session_id}) + b"\n"
        if not write_durably(self.path, header, 0o644, replace=False):
            raise IntegrityError(f"{self.path} exists already: a chain is never restarted")
        self._file = self.path.open("ab")

    def add(self, file: str, sha256: str, bytes: int) -> ChainEntry:
        """Append one closed segment to the chain, on disk before this returns."""
        with self._lock:
            entry = self.chain.add(file, sha256, bytes)
            try:
                self._file.write(canonical_json(asdict(entry)) + b"\n")
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                raise IntegrityError(f"cannot write {self.path}: {exc}") from exc
            return entry

    def close(self) -> None:
        """Close the file; the chain stays available in memory."""
        self._file.close()

    @classmethod
    def resume(cls, folder: Path) -> ChainLog:
        """Reopen the chain a stopped server left, to append to it; a torn line is cut."""
        path = folder / CHAIN_FILE
        loaded = cls.load(path)
        log = cls.__new__(cls)
        log.path, log.chain, log._lock = path, HashChain(loaded.session_id), threading.Lock()
        for entry in loaded.entries:
            log.chain.add(entry.file, entry.sha256, entry.bytes)
        try:
            raw = path.read_bytes()
            if not raw.endswith(b"\n"):  # the entry being written when the server died
                with path.open("r+b") as f:
                    f.truncate(raw.rfind(b"\n") + 1)
            log._file = path.open("ab")
        except OSError as exc:
            raise IntegrityError(f"cannot reopen {path}: {exc}") from exc
        return log

    @staticmethod
    def load(path: Path) -> LoadedChain:
        """Read ``chain.jsonl`` back; a torn or unreadable line is reported, not raised."""
        try:
            raw = path.read_bytes()
            lines = raw.removesuffix(b"\n").split(b"\n")
            header = json.loads(lines[0])
            loaded = LoadedChain(header["session_id"], [])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise IntegrityError(f"cannot read the header of {path}: {exc!r}") from exc
        if header.get("format") != CHAIN_FORMAT or not isinstance(loaded.session_id, str):
            raise IntegrityError(f"{path}: not a {CHAIN_FORMAT} header")
        for number, line in enumerate(lines[1:], start=2):
            try:
                loaded.entries.append(ChainEntry.parse(json.loads(line)))
            except (ValueError, IntegrityError) as exc:
                if number == len(lines) and not raw.endswith(b"\n"):
                    loaded.problems.append(f"{CHAIN_FILE}: torn last line {number} ignored")
                else:
                    loaded.problems.append(f"{CHAIN_FILE}: line {number} unreadable ({exc})")
        return loaded
