"""The session composite: both parties side by side, voices mixed, overlay, chapters.

A session's WebM segments (one timeline in ms) are decoded with PyAV and encoded once into a
fragmented MP4 (H.264 + AAC) that browsers play and that stays playable if the writer dies.
Pictures are composed on yuv420p planes with numpy, text drawn with cv2 into cached luma
layers; the steps become MP4 chapters (FFmpeg writes a QuickTime chapter track and a Nero
``chpl`` atom) and a WebVTT sidecar. Blocking: run it off the event loop.
"""

from __future__ import annotations

import bisect
import fractions
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import av
import cv2
import numpy as np
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame
from numpy.typing import NDArray

from common import Party

from .errors import RecordingError
from .verify import SEGMENT_RE

RATE = 48000
AAC_PRIMING = 1024  # samples the AAC encoder puts first (see _Mixer)
AUDIO_BLOCK = 1024
HEADROOM = 10 ** (-3 / 20)  # the sum of two voices, 3 dB down, then clipped
STALE_S = 1.0  # a party's last picture older than this turns black (camera gone)
CONTIGUOUS = round(0.002 * RATE)  # audio this close to the previous chunk's end joins it
BAND = 24  # rows of each overlay band, top and bottom
BLACK = (16, 128, 128)
# Fragmented: a fragment per keyframe, each on disk once complete (a crash keeps them all).
MUXER_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "crf": "26"}
ENCODER_THREADS = 1  # the composite runs beside live calls on a small machine
_BT601 = 6  # AVCOL_PRI/TRC/SPC_SMPTE170M: what VP8 from browsers and aiortc carries
_FONT = cv2.FONT_HERSHEY_SIMPLEX

_FrameT = TypeVar("_FrameT", VideoFrame, AudioFrame)
_Chapter = tuple[float, float, str]  # start s, end s, text
_U8 = NDArray[np.uint8]


@dataclass(frozen=True, kw_only=True)
class CompositeInfo:
    """Who and what the composite shows, and its picture geometry."""

    session_id: str
    branch: str
    agent_id: str
    started_at: datetime  # aware: the wall-clock time of timeline 0
    steps: tuple[tuple[int, str, str], ...] = ()  # (offset ms, step name, title)
    timezone: str = "Asia/Shanghai"
    width: int = 1280
    height: int = 480
    fps: int = 15

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be an aware datetime")
        sizes_ok = self.width > 0 and self.width % 4 == 0 and self.height % 4 == 0
        if not sizes_ok or self.height < 4 * BAND or self.fps <= 0:
            raise ValueError(f"bad composite geometry {self.width}x{self.height} at {self.fps} fps")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc


@dataclass(frozen=True)
class CompositeResult:
    """What ``compose_session`` wrote and what it cost (ms per output frame)."""

    path: Path
    vtt_path: Path
    frames: int
    duration_s: float
    chapters: list[tuple[float, str]]
    encode_ms_per_frame: float  # the H.264 encoder
    compose_ms_per_frame: float  # numpy composition and overlay
    cpu_ms_per_frame: float  # everything: decoding, composing, mixing, encoding, muxing
    wall_s: float
    warnings: list[str] = field(default_factory=list)


def compose_session(
    folder: Path, out: Path, info: CompositeInfo, *, progress: Callable[[float], None] | None = None
) -> CompositeResult:
    """Compose a session's segments into one fragmented MP4 plus a WebVTT of its steps."""
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    warnings: list[str] = []
    tracks, end = _scan(folder, warnings)
    if not tracks:
        raise RecordingError(f"no readable segment in {folder}")
    # A last frame for what runs past a frame boundary by more than a tenth of a frame.
    frames = max(1, math.ceil(end * info.fps - 0.1))
    duration, total = frames / info.fps, frames * RATE // info.fps
    chapters = _chapters(info.steps, duration)
    vtt_path = out.with_suffix(".vtt")
    vtt_path.write_text(_webvtt(chapters), encoding="utf-8")

    h, w, half = info.height, info.width, info.width // 2
    pictures = [
        _PartyVideo(_decode(tracks.get((p, "video"), []), VideoFrame, warnings), info)
        for p in Party
    ]
    mixer = _Mixer([_decode(tracks.get((p, "audio"), []), AudioFrame, warnings) for p in Party])
    overlay = _Overlay(info)
    # One packed yuv420p buffer, as VideoFrame.from_ndarray takes it, and views of its planes.
    buffer = np.empty((h * 3 // 2, w), dtype=np.uint8)
    y = buffer[:h]
    u, v = (buffer[h + h // 4 * i : h + h // 4 * (i + 1)].reshape(h // 2, half) for i in (0, 1))
    halves = [(y[:, x : x + half], u[:, x // 2 :][:, : half // 2], v[:, x // 2 :][:, : half // 2])
              for x in (0, half)]  # fmt: skip
    compose_s = encode_s = 0.0
    try:
        with av.open(str(out), "w", format="mp4", options=MUXER_OPTIONS) as container:
            # Before the header: with empty_moov the moov, chapters included, is written first.
            container.set_chapters(
                [
                    {"id": i, "start": round(start * 1000), "end": round(end * 1000),
                     "time_base": fractions.Fraction(1, 1000), "metadata": {"title": text}}
                    for i, (start, end, text) in enumerate(chapters)
                ]
            )  # fmt: skip
            video = container.add_stream("libx264", rate=info.fps, options=X264_OPTIONS)
            video.width, video.height, video.pix_fmt = info.width, info.height, "yuv420p"
            context = video.codec_context
            context.gop_size = 2 * info.fps  # a fragment every 2 s: a crash loses at most that
            context.thread_count = ENCODER_THREADS
            context.color_primaries = context.color_trc = context.colorspace = _BT601
            context.color_range = 1  # limited ("tv") range, as decoded from VP8
            audio = container.add_stream("aac", rate=RATE, layout="mono")
            audio.bit_rate = 64000
            for k in range(frames):
                t = k / info.fps
                for picture in pictures:
                    picture.advance(t)
                began = time.perf_counter()
                for picture, planes in zip(pictures, halves, strict=True):
                    picture.draw(*planes)
                overlay.apply(y, u, v, t)
                frame = VideoFrame.from_ndarray(buffer, format="yuv420p")
                frame.pts = k
                encoding = time.perf_counter()
                packets = video.encode(frame)
                encode_s += time.perf_counter() - encoding
                compose_s += encoding - began
                container.mux(packets)
                until = min(total, (k + 1) * RATE // info.fps)
                for sound in mixer.frames(until, last=k == frames - 1):
                    container.mux(audio.encode(sound))
                if progress is not None and (k + 1) % info.fps == 0:
                    progress((k + 1) / frames)
            container.mux(video.encode(None))
            container.mux(audio.encode(None))
    except (av.FFmpegError, OSError) as exc:
        raise RecordingError(f"cannot write {out}: {exc}") from exc
    if progress is not None:
        progress(1.0)
    return CompositeResult(
        path=out,
        vtt_path=vtt_path,
        frames=frames,
        duration_s=duration,
        chapters=[(start, text) for start, _, text in chapters],
        encode_ms_per_frame=encode_s * 1000 / frames,
        compose_ms_per_frame=compose_s * 1000 / frames,
        cpu_ms_per_frame=(time.thread_time() - cpu0) * 1000 / frames,
        wall_s=time.perf_counter() - wall0,
        warnings=warnings,
    )


def _scan(folder: Path, warnings: list[str]) -> tuple[dict[tuple[str, str], list[Path]], float]:
    """Each track's readable segments in order, and where the last of them ends (s)."""
    tracks: dict[tuple[str, str], list[Path]] = {}
    end = 0.0
    for path in sorted(folder.iterdir()):
        if (match := SEGMENT_RE.match(path.name)) is None:
            continue
        ends: list[float] = []
        error = ""
        try:
            with av.open(str(path)) as container:
                for packet in container.demux(container.streams[0]):
                    if packet.pts is not None and packet.time_base is not None:
                        ends.append(float((packet.pts + (packet.duration or 0)) * packet.time_base))
        except (av.FFmpegError, OSError, IndexError) as exc:
            error = str(exc)
        if not ends:
            warnings.append(f"{path.name}: skipped ({error or 'no frame'})")
            continue
        if error:  # a crash cut it short: what is there is kept
            warnings.append(f"{path.name}: cut short ({error})")
        end = max(end, *ends)
        tracks.setdefault((match[1], match[2]), []).append(path)
    return tracks, end


def _decode(
    paths: list[Path], kind: type[_FrameT], warnings: list[str]
) -> Iterator[tuple[float, _FrameT]]:
    for path in paths:
        bad = 0
        try:
            with av.open(str(path)) as container:
                stream = container.streams[0]
                stream.codec_context.thread_count = 1
                for packet in container.demux(stream):
                    try:
                        decoded = packet.decode()
                    except av.FFmpegError:
                        bad += 1
                        continue
                    for frame in decoded:
                        if isinstance(frame, kind) and frame.time is not None:
                            yield frame.time, frame
        except (av.FFmpegError, OSError, IndexError) as exc:
            warnings.append(f"{path.name}: decoding stopped ({exc})")
        if bad:
            warnings.append(f"{path.name}: {bad} undecodable packets skipped")


class _PartyVideo:
    """One party's pictures: the one on screen at each output time, drawn into its half."""

    def __init__(self, frames: Iterator[tuple[float, VideoFrame]], info: CompositeInfo) -> None:
        self._frames = frames
        self._width, self._height = info.width // 2, info.height
        self._slack = 0.5 / info.fps
        self._next = next(frames, None)
        self._current: tuple[float, VideoFrame] | None = None
        self._planes: list[_U8] = []
        self._origin = (0, 0)

    def advance(self, t: float) -> None:
        """Decode up to the frame nearest time ``t``; none when the party has no picture."""
        # A frame up to half an output frame ahead counts: the nearest, not the one before.
        while self._next is not None and self._next[0] <= t + self._slack:
            self._current, self._next = self._next, next(self._frames, None)
            self._planes = []
        if self._current is None or t - self._current[0] > STALE_S:
            self._planes = []
        elif not self._planes:
            frame = self._current[1]
            scale = min(self._width / frame.width, self._height / frame.height)
            w = min(self._width, round(frame.width * scale / 2) * 2)
            h = min(self._height, round(frame.height * scale / 2) * 2)
            if (w, h) != (frame.width, frame.height) or frame.format.name != "yuv420p":
                frame = frame.reformat(width=w, height=h, format="yuv420p")
            self._origin = ((self._width - w) // 4 * 2, (self._height - h) // 4 * 2)
            flat = np.asarray(frame.to_ndarray(), dtype=np.uint8).reshape(-1)  # planes, unpadded
            self._planes = [flat[: w * h].reshape(h, w)]
            self._planes += [c.reshape(h // 2, w // 2) for c in np.split(flat[w * h :], 2)]

    def draw(self, y: _U8, u: _U8, v: _U8) -> None:
        """Copy the current picture into the half's planes, black around or instead of it."""
        if not self._planes or self._planes[0].shape != y.shape:
            y[:], u[:], v[:] = BLACK
        if self._planes:
            (ox, oy), (h, w) = self._origin, self._planes[0].shape
            y[oy : oy + h, ox : ox + w] = self._planes[0]
            chroma = (slice(oy // 2, (oy + h) // 2), slice(ox // 2, (ox + w) // 2))
            u[chroma], v[chroma] = self._planes[1], self._planes[2]


class _Mixer:
    """Both voices placed on the timeline and summed, in AAC-sized mono frames."""

    def __init__(self, voices: list[Iterator[tuple[float, AudioFrame]]]) -> None:
        self._voices = voices
        self._pending: list[tuple[int, NDArray[np.float32]] | None] = [None] * len(voices)
        self._cursors = [-RATE] * len(voices)
        self._resamplers = [av.AudioResampler("fltp", "mono", RATE) for _ in voices]
        # The AAC encoder's priming decodes as silence before the first sample fed to it:
        # feeding from this sample on lines the sound up with the picture, no edit list.
        self._position = AAC_PRIMING

    def frames(self, until: int, last: bool) -> Iterator[AudioFrame]:
        """The mix in whole blocks up to timeline sample ``until``, all of it when ``last``."""
        while self._position < until:
            n = min(AUDIO_BLOCK, until - self._position)
            if n < AUDIO_BLOCK and not last:
                return
            mix = np.zeros(n, dtype=np.float32)
            for i in range(len(self._voices)):
                self._add(i, mix)
            np.clip(mix * HEADROOM, -1.0, 1.0, out=mix)
            frame = AudioFrame.from_ndarray(mix.reshape(1, n), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = RATE, self._position
            self._position += n
            yield frame

    def _add(self, i: int, mix: NDArray[np.float32]) -> None:
        start, end = self._position, self._position + len(mix)
        while (chunk := self._pending[i] or self._chunk(i)) is not None:
            at, samples = chunk
            first, last = max(at, start), min(at + len(samples), end)
            if last > first:
                mix[first - start : last - start] += samples[first - at : last - at]
            self._pending[i] = chunk if at + len(samples) > end else None
            if self._pending[i] is not None:
                return

    def _chunk(self, i: int) -> tuple[int, NDArray[np.float32]] | None:
        for t, frame in self._voices[i]:
            parts = self._resamplers[i].resample(frame)
            if not parts:
                continue
            samples = np.concatenate([p.to_ndarray()[0] for p in parts], dtype=np.float32)
            at = round(t * RATE)
            if abs(at - self._cursors[i]) <= CONTIGUOUS:
                at = self._cursors[i]  # contiguous: no click from ms-rounded timestamps
            self._cursors[i] = at + len(samples)
            return at, samples
        return None


class _Overlay:
    """Burned-in date and time, identities and workflow step, in two darkened bands."""

    def __init__(self, info: CompositeInfo) -> None:
        self._zone = ZoneInfo(info.timezone)
        self._started = info.started_at
        self._width = info.width
        self._ids = f"session {info.session_id}   branch {info.branch}   agent {info.agent_id}"
        steps = sorted(info.steps, key=lambda step: step[0])
        self._offsets = [offset for offset, _, _ in steps]
        # Hershey fonts draw ASCII only: a Chinese title is left to the chapters.
        self._labels = [
            f"step {i + 1}/{len(steps)}  {name}" + (f" - {title}" if title.isascii() else "")
            for i, (_, name, title) in enumerate(steps)
        ]
        self._bands = [(0, BAND), (info.height - BAND, info.height)]  # rows of y
        self._key: tuple[str, int] | None = None
        self._layers: list[_U8] = []

    def apply(self, y: _U8, u: _U8, v: _U8, t: float) -> None:
        """Draw the overlay for timeline time ``t`` onto the composite's planes."""
        when = (self._started + timedelta(seconds=t)).astimezone(self._zone)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S %Z")
        step = bisect.bisect_right(self._offsets, t * 1000) - 1
        if (stamp, step) != self._key:  # re-rendered about once a second
            self._key = (stamp, step)
            label = self._labels[step] if step >= 0 else ""
            self._layers = [self._render(stamp, self._ids), self._render(label, "")]
        for (first, last), layer in zip(self._bands, self._layers, strict=True):
            band = y[first:last]
            band >>= 1
            band += 8
            np.maximum(band, layer, out=band)
            for chroma in (u[first // 2 : last // 2], v[first // 2 : last // 2]):
                chroma >>= 1
                chroma += 64

    def _render(self, left: str, right: str) -> _U8:
        layer = np.zeros((BAND, self._width), dtype=np.uint8)
        for text, align in ((left, 0), (right, 1)):
            text = text.encode("ascii", "replace").decode("ascii")
            (w, _), _ = cv2.getTextSize(text, _FONT, 0.5, 1)
            x = 8 + align * max(0, self._width - 16 - w)
            cv2.putText(layer, text, (x, BAND - 8), _FONT, 0.5, 235, 1, cv2.LINE_AA)
        return layer


def _chapters(steps: tuple[tuple[int, str, str], ...], duration: float) -> list[_Chapter]:
    # Stable: of two steps at one offset, the later one is in force (as in the overlay).
    ordered = sorted(steps, key=lambda step: step[0])
    starts = [(max(0.0, ms / 1000), n, title) for ms, n, title in ordered if ms < duration * 1000]
    ends = [step[0] for step in starts[1:]] + [duration] * bool(starts)
    return [
        (start, end, f"{name}: {title}" if title and title != name else name)
        for (start, name, title), end in zip(starts, ends, strict=True)
        if end > start
    ]


def _webvtt(chapters: list[_Chapter]) -> str:
    lines = ["WEBVTT", ""]
    for i, (start, end, text) in enumerate(chapters, 1):
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        lines += [f"step-{i}", f"{_vtt_time(start)} --> {_vtt_time(end)}", escaped, ""]
    return "\n".join(lines)


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
