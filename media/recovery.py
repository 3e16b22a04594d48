"""Closing the files of a recording part a crash left open (PyAV reads what survived).

The segments that were still open (readable up to the last flushed cluster) are hashed
and appended to the part's ``chain.jsonl`` in file-name order; segments that hold no
frame at all (opened as the server died) are set aside as ``<name>.empty``. The caller
stores the recovered segments and signs the manifest over the returned chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from common import CHAIN_FILE, MediaKind, Party, sha256_file

from .chain import ChainLog, HashChain
from .recorder import CODECS
from .verify import SEGMENT_RE


@dataclass(frozen=True)
class RecoveredSegment:
    """A segment left open by the crash, now chained: what it holds and its digest."""

    name: str
    party: Party
    kind: MediaKind
    seq: int
    frames: int
    start_ms: int
    end_ms: int
    sha256: str
    bytes: int

    @property
    def codec(self) -> str:
        """The codec the recorder writes for this kind of track."""
        return CODECS[self.kind]


@dataclass(frozen=True)
class RecoveredPart:
    """The part's chain after recovery, the segments added to it and those set aside."""

    chain: HashChain
    recovered: tuple[RecoveredSegment, ...]
    empty: tuple[str, ...]


def inspect_segment(path: Path) -> RecoveredSegment:
    """Count a segment's readable frames and their span (blocking)."""
    match = SEGMENT_RE.match(path.name)
    if match is None:
        raise ValueError(f"{path.name} is not a segment file name")
    frames, first, last = 0, None, None
    try:
        with av.open(str(path)) as container:
            if container.streams:
                for packet in container.demux(container.streams[0]):
                    if packet.pts is None:
                        continue
                    at = round(float(packet.pts * packet.time_base) * 1000)
                    first = at if first is None else first
                    last, frames = at, frames + 1
    except (av.FFmpegError, OSError, ValueError):
        pass  # whatever was read before the damage counts
    return RecoveredSegment(
        name=path.name,
        party=Party(match[1]),
        kind=MediaKind(match[2]),
        seq=int(match[3]),
        frames=frames,
        start_ms=first or 0,
        end_ms=last or 0,
        sha256=sha256_file(path),
        bytes=path.stat().st_size,
    )


def recover_part(directory: Path, session_id: str) -> RecoveredPart:
    """Chain the segments of ``directory`` left open by the crash; set aside the empty ones.

    Blocking: run it off the event loop.
    """
    resumed = (directory / CHAIN_FILE).is_file()
    log = ChainLog.resume(directory) if resumed else ChainLog(directory, session_id)
    chained = {entry.file for entry in log.chain.entries}
    recovered: list[RecoveredSegment] = []
    empty: list[str] = []
    try:
        for file in sorted(p for p in directory.iterdir() if SEGMENT_RE.match(p.name)):
            if file.name in chained:
                continue
            segment = inspect_segment(file)
            if segment.frames == 0:
                file.rename(file.with_name(file.name + ".empty"))
                empty.append(file.name)
                continue
            log.add(segment.name, segment.sha256, segment.bytes)
            recovered.append(segment)
    finally:
        log.close()
    return RecoveredPart(log.chain, tuple(recovered), tuple(empty))
