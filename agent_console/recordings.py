"""A recording part as local files for the auditor: the store's own or a fetched copy.

Every function here blocks (store reads, hashing, decoding, remuxing): call it from a
worker thread. Recordings are read through the ``RecordingStore``; only a ``LocalStore``'s
files are used in place, any other store's are fetched into the cache folder first.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from heapq import merge
from pathlib import Path
from typing import Any

import av
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common import CHAIN_FILE, MANIFEST_FILE, MediaKind, Party, RecordingLayout
from media import ChainLog
from media.verify import VerifyReport, verify_recording
from storage import NotFound
from storage.objectstore import LocalStore, RecordingStore, check_key

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def part_prefix(session_id: str, part: int) -> str:
    """The store key folder of one recording part, for a session id checked to be a key."""
    check_key(session_id)
    return RecordingLayout(session_id, part).folder


class RecordingCache:
    """Recording parts as local folders, with per-party tracks remuxed on demand."""

    def __init__(self, store: RecordingStore, root: Path) -> None:
        """Read through ``store``; fetched copies and remuxed tracks go under ``root``."""
        self.store, self.root = store, root
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def file(self, key: str) -> Path:
        """A local file with the bytes of ``key`` (fetched once from a remote store)."""
        check_key(key)
        if isinstance(self.store, LocalStore):
            path = self.store.path(key)
            if not path.is_file():
                raise NotFound("recording file", key)
            return path
        target = self.root / "objects" / key
        with self._lock(key):
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                stream = self.store.open(key)
                try:
                    with partial.open("wb") as out:
                        while chunk := stream.read(_CHUNK):
                            out.write(chunk)
                finally:
                    stream.close()
                partial.replace(target)
        return target

    def chained_files(self, session_id: str, part: int) -> list[str]:
        """The file names of a part's folder: the chained files, manifest and chain log."""
        prefix = part_prefix(session_id, part)
        names: list[str] = []
        for name in (MANIFEST_FILE, CHAIN_FILE):
            if self.store.exists(f"{prefix}/{name}"):
                names.append(name)
        if CHAIN_FILE in names:
            loaded = ChainLog.load(self.file(f"{prefix}/{CHAIN_FILE}"))
            names += [entry.file for entry in loaded.entries]
        elif MANIFEST_FILE in names:
            manifest = json.loads(self.store.read(f"{prefix}/{MANIFEST_FILE}"))
            names += [entry["file"] for entry in manifest.get("chain", [])]
        if not names:
            raise NotFound("recording", prefix)
        return list(dict.fromkeys(names))

    def folder(self, session_id: str, part: int) -> Path:
        """A local folder holding the whole part (the store's own for a LocalStore)."""
        prefix = part_prefix(session_id, part)
        names = self.chained_files(session_id, part)
        if isinstance(self.store, LocalStore):
            return self.store.path(prefix)
        for name in names:
            self.file(f"{prefix}/{name}")
        return self.root / "objects" / prefix

    def verify(
        self, session_id: str, part: int, trusted_key: Ed25519PublicKey | None
    ) -> VerifyReport:
        """``dualrec verify`` of one part, against the server's own key."""
        try:
            folder = self.folder(session_id, part)
        except NotFound:
            report = VerifyReport(path=part_prefix(session_id, part), session_id=session_id)
            report.problems.append("no signed recording in the store")
            return report
        return verify_recording(folder, trusted_key)

    def _track_path(self, session_id: str, part: int, party: Party) -> Path:
        return self.root / "tracks" / f"{check_key(session_id)}-{part}-{party}.webm"

    def prepared_track(self, session_id: str, part: int, party: Party) -> Path | None:
        """The remuxed track if :meth:`party_track` made it already."""
        path = self._track_path(session_id, part, party)
        return path if path.is_file() else None

    def party_track(self, session_id: str, part: int, party: Party) -> Path:
        """One party's audio and video segments as one WebM, remuxed (not re-encoded)."""
        target = self._track_path(session_id, part, party)
        with self._lock(str(target)):
            if target.is_file():
                return target
            prefix = part_prefix(session_id, part)
            names = [n for n in self.chained_files(session_id, part) if n.startswith(party + "-")]
            paths = {
                kind: [self.file(f"{prefix}/{n}") for n in sorted(names) if f"-{kind}-" in n]
                for kind in (MediaKind.VIDEO, MediaKind.AUDIO)
            }
            if not paths[MediaKind.VIDEO] and not paths[MediaKind.AUDIO]:
                raise NotFound(f"{party} recording", prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            _remux(paths, partial)
            partial.replace(target)
            logger.info("session %s: %s track of part %d remuxed", session_id, party, part)
        return target

    def clear(self) -> None:
        """Remove every fetched copy and remuxed track."""
        shutil.rmtree(self.root, ignore_errors=True)


def _packets(paths: list[Path], kind: MediaKind) -> Iterator[tuple[float, MediaKind, Any]]:
    """The packets of consecutive segments, with their time in seconds, in order."""
    for path in paths:
        with av.open(str(path)) as container:
            for packet in container.demux(container.streams[0]):
                if packet.pts is None or packet.dts is None:
                    continue
                yield float(packet.pts * packet.time_base), kind, packet


def _remux(paths: dict[MediaKind, list[Path]], out_path: Path) -> None:
    """Mux the segments' packets into one WebM, interleaved by time, as they are."""
    with av.open(str(out_path), "w", format="webm") as out:
        streams = {}
        for kind, files in paths.items():
            if files:
                with av.open(str(files[0])) as first:
                    streams[kind] = out.add_stream_from_template(first.streams[0])
        last_dts: dict[MediaKind, int] = {}
        timeline = merge(
            *(_packets(files, kind) for kind, files in paths.items() if files),
            key=lambda item: item[0],
        )
        for _, kind, packet in timeline:
            stream = streams[kind]
            # Segments join end to start: a repeated timestamp would be refused by the muxer.
            if packet.dts is not None and packet.dts <= last_dts.get(kind, -1):
                continue
            last_dts[kind] = packet.dts if packet.dts is not None else last_dts.get(kind, -1)
            packet.stream = stream
            out.mux(packet)
