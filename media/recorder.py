"""The double-recording: both parties' encoded media, as received, in WebM segments.

Nothing is decoded or re-encoded. Each track (kiosk/agent x audio/video) is written
to its own series of WebM segments on one session timeline (milliseconds since the
recording started, from media.timeline), so the files of all four tracks line up.
Matroska keeps everything written before a crash readable; clusters are closed every
second and flushed at once, so a killed server loses at most about a second. Video
segments start on a keyframe (one is requested as a segment comes due), so every
segment plays on its own. All file I/O runs on one writer thread per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fractions
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from common import sha256_file

from .chain import ChainLog
from .counts import DropReason, FrameCounts
from .errors import IntegrityError, RecordingError
from .space import SpaceReserve, is_disk_full
from .tap import vp8_size
from .timeline import PlacedFrame

logger = logging.getLogger(__name__)

MS = fractions.Fraction(1, 1000)
CODECS = {"video": "vp8", "audio": "opus"}
#: Matroska muxer options: close a cluster every second and flush it to the file.
MUXER_OPTIONS = {"cluster_time_limit": "1000", "flush_packets": "1"}


@dataclass(frozen=True)
class SegmentInfo:
    """What one written segment holds."""

    party: str
    kind: str
    seq: int
    path: str
    codec: str
    bytes: int
    sha256: str | None
    frames: int
    start_ms: int
    end_ms: int
    closed: bool


def segment_name(party: str, kind: str, seq: int) -> str:
    """The file name of a segment: ``kiosk-video-0003.webm``."""
    return f"{party}-{kind}-{seq:04d}.webm"


class _Segment:
    """One open WebM file holding one track (writer thread only)."""

    def __init__(self, path: Path, kind: str, size: tuple[int, int] | None) -> None:
        self.path = path
        try:
            self.container = av.open(str(path), "w", format="webm", options=MUXER_OPTIONS)
            if kind == "video":
                assert size is not None
                stream: Any = self.container.add_stream("libvpx", rate=30)
                stream.width, stream.height = size
                stream.pix_fmt = "yuv420p"
            else:
                stream = self.container.add_stream("libopus", rate=48000)
                stream.layout = "stereo"
            stream.time_base = MS
            # Opens the codec context only so that the muxer gets its parameters
            # (Opus' header among them); nothing is ever encoded with it.
            self.container.start_encoding()
        except (av.FFmpegError, OSError) as exc:
            raise RecordingError(f"cannot open segment {path.name}: {exc}") from exc
        self.stream = stream

    def write(self, data: bytes, pts_ms: int, keyframe: bool) -> None:
        packet = av.Packet(data)
        packet.stream = self.stream
        packet.pts = packet.dts = pts_ms
        packet.time_base = MS
        packet.is_keyframe = keyframe
        self.container.mux(packet)

    def close(self) -> tuple[int, str]:
        self.container.close()
        return self.path.stat().st_size, sha256_file(self.path)


class _TrackState:
    """Where one track's recording stands (event loop side)."""

    def __init__(self, party: str, kind: str) -> None:
        self.party = party
        self.kind = kind
        self.seq = -1
        self.open = False
        self.start_ms = 0
        self.last_ms = -1
        self.frames = 0
        self.total_frames = 0
        self.dropped_before_keyframe = 0


def _always() -> bool:
    return True


class SessionRecorder:
    """Records both parties' encoded audio and video of one session."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_s: float = 10.0,
        request_keyframe: Callable[[str], None],
        on_segment: Callable[[SegmentInfo], None],
        counts: FrameCounts | None = None,
        space: SpaceReserve | None = None,
        on_failure: Callable[[str], object] | None = None,
    ) -> None:
        self.directory = directory
        #: The recordings disk's reserve and full state (none: not watched).
        self.space = space
        #: Called on the event loop, once, when the recording cannot go on (disk full).
        self._on_failure = on_failure
        #: The server's frame totals (recorded, dropped before the start or a keyframe).
        self.counts = FrameCounts() if counts is None else counts
        self.segment_ms = int(segment_s * 1000)
        self._request_keyframe = request_keyframe
        self._on_segment = on_segment
        self._tracks: dict[tuple[str, str], _TrackState] = {}
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.t0: float | None = None
        self.chain: ChainLog | None = None
        self._session_id = ""
        self.segments: list[SegmentInfo] = []
        #: Whether this process may still write (always, on one node; while its lease
        #: holds, among several). Checked by the writer thread before each file operation.
        self.may_write: Callable[[], bool] = _always
        self._fenced = 0
        self.errors: list[str] = []
        #: Why the recording stopped for good (the disk is full), else None.
        self.failure: str | None = None

    @property
    def recording(self) -> bool:
        """Whether the recorder has started and not stopped."""
        return self._thread is not None

    def start(self, t0: float, session_id: str) -> None:
        """Start the timeline at wall-clock ``t0`` and the writer thread."""
        self.t0 = t0
        self._session_id = session_id
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def add(self, party: str, placed: PlacedFrame) -> None:
        """Queue one placed frame for writing (called on the event loop)."""
        if self.t0 is None or self._thread is None:
            return
        frame = placed.frame
        pts = round((placed.wall - self.t0) * 1000)
        if pts < 0:
            self.counts.drop(frame.kind, DropReason.BEFORE_START)
            return
        key = (party, frame.kind)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _TrackState(party, frame.kind)
        elapsed = pts - track.start_ms
        due = track.open and elapsed >= self.segment_ms
        if frame.kind == "video" and (due or not track.open) and not frame.keyframe:
            # A video segment starts on a keyframe so that it plays on its own.
            self._request_keyframe(party)
            if not track.open:
                track.dropped_before_keyframe += 1
                self.counts.drop(frame.kind, DropReason.BEFORE_KEYFRAME)
                return
            due = False
        if due:
            self._close(track)
        if not track.open:
            size = vp8_size(frame.data) if frame.kind == "video" else None
            if frame.kind == "video" and size is None:
                self._request_keyframe(party)
                self.counts.drop(frame.kind, DropReason.BEFORE_KEYFRAME)
                return
            track.seq += 1
            track.open = True
            track.start_ms = pts
            track.frames = 0
            name = segment_name(party, frame.kind, track.seq)
            self._queue.put(("open", key, name, frame.kind, size))
        pts = max(pts, track.last_ms + 1)
        track.last_ms = pts
        track.frames += 1
        track.total_frames += 1
        self.counts.recorded[frame.kind] += 1
        self._queue.put(("write", key, frame.data, pts, frame.keyframe))

    def _close(self, track: _TrackState) -> None:
        track.open = False
        self._queue.put(
            (
                "close",
                (track.party, track.kind),
                track.seq,
                track.frames,
                track.start_ms,
                track.last_ms,
            )
        )

    async def stop(self) -> list[SegmentInfo]:
        """Close every segment and wait for the writer; returns all segments."""
        thread = self._thread
        if thread is None:
            return self.segments
        for track in self._tracks.values():
            if track.open:
                self._close(track)
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._thread = None
        # Let the segment callbacks queued by the writer thread run first.
        await asyncio.sleep(0)
        return self.segments

    def frame_counts(self) -> dict[str, int]:
        """Frames recorded per track, e.g. ``{"kiosk-video": 450}``."""
        return {f"{t.party}-{t.kind}": t.total_frames for t in self._tracks.values()}

    # -- writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        segments: dict[tuple[str, str], _Segment] = {}
        failed: set[tuple[str, str]] = set()
        try:
            if self.space is not None and not self.space.ensure():
                raise OSError(errno.ENOSPC, f"the recordings disk is full ({self.space.detail})")
            self.directory.mkdir(parents=True, exist_ok=True)
            # Each closed segment's hash enters the chain at once (see media.integrity).
            chain = self.chain = ChainLog(self.directory, self._session_id)
        except (OSError, IntegrityError) as exc:
            self.errors.append(f"cannot start the recording: {exc}")
            logger.error("recording %s cannot start: %s", self.directory.name, exc)
            if is_disk_full(exc):
                self._fail(segments, f"disk full: {exc}")
            while self._queue.get() is not None:
                pass
            return
        while (item := self._queue.get()) is not None:
            command, key = item[0], item[1]
            if self.failure is not None:
                continue
            if self.space is not None and self.space.full:
                # Another recording found the disk full: this one cannot go on either.
                self._fail(segments, f"disk full: {self.space.detail}")
                continue
            if not self.may_write():
                # This node may have been taken for dead (see cluster.nodes): the part is
                # another node's to close now; nothing more is written to it.
                self._fenced += 1
                continue
            try:
                if command == "open":
                    failed.discard(key)
                    segments[key] = _Segment(self.directory / item[2], item[3], item[4])
                elif key in failed:
                    continue
                elif command == "write":
                    segments[key].write(item[2], item[3], item[4])
                elif command == "close":
                    segment = segments.pop(key)
                    size, digest = segment.close()
                    chain.add(segment.path.name, digest, size)
                    self._report(key, item, segment.path, size, digest)
            except (av.FFmpegError, OSError, RecordingError, IntegrityError) as exc:
                message = f"{key[0]} {key[1]}: {exc}"
                logger.error("recording error in %s: %s", self.directory.name, message)
                self.errors.append(message)
                if is_disk_full(exc):
                    self._fail(segments, f"disk full: {message}")
                    continue
                # Keep the other tracks going; this track resumes at its next segment.
                failed.add(key)
                segments.pop(key, None)
        for segment in segments.values():
            segment.container.close()
        # The chain stays open: the composite made after hang-up is chained too.

    def _fail(self, segments: dict[tuple[str, str], _Segment], reason: str) -> None:
        """The recording cannot go on: let the open segments go as they stand, say so."""
        self.failure = reason
        for segment in segments.values():
            # The trailer may not fit: the segment stays readable up to its last cluster.
            with contextlib.suppress(av.FFmpegError, OSError):
                segment.container.close()
        segments.clear()
        if self.space is not None:
            self.space.trip(reason)
        logger.error("recording %s stopped: %s", self.directory.name, reason)
        if self._on_failure is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_failure, reason)

    def _report(
        self, key: tuple[str, str], item: tuple[Any, ...], path: Path, size: int, digest: str
    ) -> None:
        _, _, seq, frames, start_ms, end_ms = item
        info = SegmentInfo(
            party=key[0],
            kind=key[1],
            seq=seq,
            path=path.name,
            codec=CODECS[key[1]],
            bytes=size,
            sha256=digest,
            frames=frames,
            start_ms=start_ms,
            end_ms=end_ms,
            closed=True,
        )
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._segment_done, info)

    def _segment_done(self, info: SegmentInfo) -> None:
        self.segments.append(info)
        self._on_segment(info)
