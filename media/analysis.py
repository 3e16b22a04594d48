"""Reading recordings back and measuring them: colours, tones and flash/beep A/V offsets."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.plane import VideoPlane
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from common import rgb_to_yuv

from .errors import RecordingError

# Audio chunks whose container time is this close to where the previous chunk ended are
# contiguous: WebM stores milliseconds, and the first Opus frame loses its pre-skip.
_CONTIGUOUS_S = 0.002
_EMPTY_RATE = 48000
_BLOCK_WINDOWS = 2000  # windows per block in find_beeps, to bound memory on long files


@dataclass(frozen=True, eq=False)
class VideoTrace:
    """Per-frame container time (s) and mean Y, U, V of a recording's first video stream."""

    times: NDArray[np.float64]
    mean_y: NDArray[np.float64]
    mean_u: NDArray[np.float64]
    mean_v: NDArray[np.float64]
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.times)

    def mean_yuv(self, index: int) -> tuple[float, float, float]:
        """Mean Y, U, V of frame `index`."""
        return float(self.mean_y[index]), float(self.mean_u[index]), float(self.mean_v[index])


@dataclass(frozen=True, eq=False)
class AudioTrace:
    """Mono float32 samples of a recording's first audio stream from container time `start`."""

    samples: NDArray[np.float32]
    sample_rate: int
    start: float

    @property
    def end(self) -> float:
        """Container time just after the last sample."""
        return self.start + len(self.samples) / self.sample_rate

    def time_of(self, index: float) -> float:
        """Container time of sample `index`."""
        return self.start + index / self.sample_rate

    def between(self, t0: float, t1: float) -> NDArray[np.float32]:
        """Samples from container time `t0` to `t1`."""
        i0 = max(0, round((t0 - self.start) * self.sample_rate))
        i1 = max(i0, round((t1 - self.start) * self.sample_rate))
        return self.samples[i0:i1]


class HasColour(Protocol):
    """Anything with an RGB `colour`, such as a `PartyLook`."""

    @property
    def colour(self) -> tuple[int, int, int]: ...


LookT = TypeVar("LookT", bound=HasColour)


def read_video(paths: Sequence[Path]) -> VideoTrace:
    """Decode consecutive files' first video stream into per-frame times and mean Y, U, V."""
    rows: list[tuple[float, float, float, float]] = []
    width = height = 0
    for path in paths:
        with _open(path) as container:
            if not container.streams.video:
                continue
            for frame in container.decode(container.streams.video[0]):
                if frame.format.name not in ("yuv420p", "yuvj420p"):
                    frame = frame.reformat(format="yuv420p")
                if not rows:
                    width, height = frame.width, frame.height
                y, u, v = (_plane_mean(plane) for plane in frame.planes[:3])
                rows.append((_frame_time(frame), y, u, v))
    table = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return VideoTrace(
        times=table[:, 0].copy(),
        mean_y=table[:, 1].copy(),
        mean_u=table[:, 2].copy(),
        mean_v=table[:, 3].copy(),
        width=width,
        height=height,
    )


def read_audio(paths: Sequence[Path]) -> AudioTrace:
    """Decode consecutive files' first audio stream to mono float32 on one timeline."""
    segments: list[tuple[float, NDArray[np.float32]]] = []
    rate = 0
    for path in paths:
        with _open(path) as container:
            if not container.streams.audio:
                continue
            chunks: list[tuple[float | None, NDArray[np.float32]]] = []
            for frame in container.decode(container.streams.audio[0]):
                if rate == 0:
                    rate = frame.sample_rate
                elif frame.sample_rate != rate:
                    raise RecordingError(
                        f"{path}: sample rate {frame.sample_rate} Hz after {rate} Hz"
                    )
                chunks.append((frame.time, _mono_float(frame)))
            segments.extend(_segments(chunks, rate))
    return _assemble(segments, rate or _EMPTY_RATE)


def colour_distance(mean_yuv: tuple[float, float, float], rgb: tuple[int, int, int]) -> float:
    """Distance of a frame's mean Y, U, V from an RGB colour, luma counting half."""
    # Half weight on luma: the bar, the text and the encoder move mean luma, not chroma.
    y, u, v = rgb_to_yuv(rgb)
    return float(np.hypot(np.hypot(0.5 * (mean_yuv[0] - y), mean_yuv[1] - u), mean_yuv[2] - v))


def closest_look(mean_yuv: tuple[float, float, float], looks: Iterable[LookT]) -> LookT:
    """The look whose colour is closest to a frame's mean Y, U, V."""
    return min(looks, key=lambda look: colour_distance(mean_yuv, look.colour))


def dominant_frequency(samples: NDArray[np.floating], sample_rate: int) -> float:
    """Frequency (Hz) of the strongest spectral peak, Hann-windowed and interpolated."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 4:
        raise ValueError(f"need at least 4 samples, got {x.size}")
    spectrum = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size)))
    spectrum[0] = 0.0
    k = int(np.argmax(spectrum))
    position = float(k)
    if 0 < k < spectrum.size - 1:
        # Gaussian interpolation between bins: exact for a Gaussian peak, close for Hann.
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-300)
        denominator = a - 2 * b + c
        if denominator < 0:
            position += 0.5 * (a - c) / denominator
    return position * sample_rate / x.size


def find_flashes(trace: VideoTrace, min_jump: float = 40.0, window: int = 15) -> list[float]:
    """Onset times of frames whose mean luma is `min_jump` above the surrounding median."""
    y = trace.mean_y
    if y.size == 0:
        return []
    # Median of the frames within +-window: a one-frame flash does not move it, and a step
    # from one scene to another (one party to the other) is not a jump at its edge.
    padded = np.pad(y, window, constant_values=np.nan)
    baseline = np.nanmedian(sliding_window_view(padded, 2 * window + 1), axis=1)
    bright = y - baseline >= min_jump
    onsets = bright & ~np.concatenate(([False], bright[:-1]))
    return [float(t) for t in trace.times[onsets]]


def find_beeps(
    trace: AudioTrace,
    freq: float = 1000.0,
    *,
    window_s: float = 0.010,
    hop_s: float = 0.001,
    min_amplitude: float = 0.05,
    min_purity: float = 0.5,
    min_duration_s: float = 0.030,
) -> list[float]:
    """Onset times of bursts of a `freq` tone, to about a millisecond."""
    rate = trace.sample_rate
    width = max(4, round(window_s * rate))
    hop = max(1, round(hop_s * rate))
    amplitude, purity = _tone_envelope(trace.samples, rate, freq, width, hop)
    on = (amplitude >= min_amplitude) & (purity >= min_purity)
    beeps: list[float] = []
    for first, last in _runs(on, max_gap=width // hop):
        if (last - first + 1) * hop < min_duration_s * rate:
            continue
        plateau = float(np.median(amplitude[first : last + 1]))
        position = _rising_crossing(amplitude, first, last, 0.5 * plateau)
        # The amplitude is half its plateau when half the (symmetric) window covers the
        # burst, i.e. when the window's centre is at the onset.
        beeps.append(trace.time_of(position * hop + width / 2))
    return beeps


def av_offsets(
    flashes: Sequence[float], beeps: Sequence[float], max_pair_s: float = 0.5
) -> list[float]:
    """For each flash with a beep within `max_pair_s`, the offset beep - flash (s)."""
    ordered = sorted(beeps)
    offsets: list[float] = []
    for flash in flashes:
        i = bisect.bisect_left(ordered, flash)
        near = [b for b in ordered[max(0, i - 1) : i + 1] if abs(b - flash) <= max_pair_s]
        if near:
            offsets.append(min(near, key=lambda b: abs(b - flash)) - flash)
    return offsets


@contextmanager
def _open(path: Path) -> Iterator[InputContainer]:
    """Open a recording for reading; FFmpeg's errors become `RecordingError`."""
    try:
        with av.open(str(path)) as container:
            yield container
    except av.error.FFmpegError as exc:
        raise RecordingError(f"cannot read {path}: {exc}") from exc


def _frame_time(frame: VideoFrame) -> float:
    t = frame.time
    return float("nan") if t is None else float(t)


def _plane_mean(plane: VideoPlane) -> float:
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8, count=plane.line_size * plane.height)
    return float(rows.reshape(plane.height, plane.line_size)[:, : plane.width].mean())


def _mono_float(frame: AudioFrame) -> NDArray[np.float32]:
    channels = frame.layout.nb_channels
    raw = frame.to_ndarray()
    planar = raw if frame.format.is_planar else raw.reshape(-1, channels).T
    if planar.dtype == np.uint8:
        scaled = (planar.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(planar.dtype, np.integer):
        scaled = planar.astype(np.float32) / float(2 ** (8 * planar.dtype.itemsize - 1))
    else:
        scaled = planar.astype(np.float32)
    mono: NDArray[np.float32] = scaled.mean(axis=0, dtype=np.float32)
    return mono


def _segments(
    chunks: Sequence[tuple[float | None, NDArray[np.float32]]], rate: int
) -> list[tuple[float, NDArray[np.float32]]]:
    """Group decoded chunks into runs contiguous in container time, with their start times."""
    segments: list[tuple[float, NDArray[np.float32]]] = []
    parts: list[NDArray[np.float32]] = []
    anchors: list[float] = []  # each chunk's time minus its offset in the segment
    length = 0

    def close() -> None:
        if parts:
            segments.append((float(np.median(anchors)), np.concatenate(parts)))

    for t, samples in chunks:
        if t is not None and anchors and abs(t - anchors[0] - length / rate) > _CONTIGUOUS_S:
            close()
            parts, anchors, length = [], [], 0
        if t is not None:
            anchors.append(t - length / rate)
        elif not anchors:
            anchors.append(segments[-1][0] + len(segments[-1][1]) / rate if segments else 0.0)
        parts.append(samples)
        length += len(samples)
    close()
    return segments


def _assemble(segments: Sequence[tuple[float, NDArray[np.float32]]], rate: int) -> AudioTrace:
    """Lay segments on one timeline: silence in gaps, the earlier segment wins an overlap."""
    if not segments:
        return AudioTrace(np.zeros(0, dtype=np.float32), rate, 0.0)
    start = segments[0][0]
    parts: list[NDArray[np.float32]] = []
    length = 0
    for anchor, samples in segments:
        position = round((anchor - start) * rate)
        if abs(position - length) <= _CONTIGUOUS_S * rate:
            position = length
        if position > length:
            parts.append(np.zeros(position - length, dtype=np.float32))
            length = position
        kept = samples[length - position :]
        parts.append(kept)
        length += len(kept)
    return AudioTrace(np.concatenate(parts), rate, start)


def _tone_envelope(
    samples: NDArray[np.float32], rate: int, freq: float, width: int, hop: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per window (every `hop` samples): amplitude at `freq`, and its share of the energy."""
    count = 0 if samples.size < width else (samples.size - width) // hop + 1
    window = np.hanning(width + 2)[1:-1]
    weight = float(window.sum())
    amplitude = np.zeros(count)
    purity = np.zeros(count)
    for first in range(0, count, _BLOCK_WINDOWS):
        last = min(count, first + _BLOCK_WINDOWS)
        x = samples[first * hop : (last - 1) * hop + width].astype(np.float64)
        # A Goertzel filter per window, done as a demodulation and a windowed sum.
        demodulated = x * np.exp(-2j * np.pi * freq * np.arange(x.size) / rate)
        spectrum = sliding_window_view(demodulated, width)[::hop] @ window
        energy = sliding_window_view(x * x, width)[::hop] @ window / weight
        amplitude[first:last] = 2 * np.abs(spectrum) / weight
        purity[first:last] = amplitude[first:last] ** 2 / 2 / np.maximum(energy, 1e-12)
    return amplitude, purity


def _runs(on: NDArray[np.bool_], max_gap: int) -> list[tuple[int, int]]:
    """First and last index of each run of True, bridging gaps up to `max_gap` long."""
    indices = np.flatnonzero(on)
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > max_gap + 1)
    firsts = np.concatenate(([indices[0]], indices[breaks + 1]))
    lasts = np.concatenate((indices[breaks], [indices[-1]]))
    return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]


def _rising_crossing(values: NDArray[np.float64], first: int, last: int, level: float) -> float:
    """Fractional index where `values` last rises through `level` at or before run `first`."""
    j = first
    while j > 0 and values[j - 1] >= level:
        j -= 1
    while j < last and values[j] < level:
        j += 1
    if j == 0 or values[j] <= values[j - 1]:
        return float(j)
    return j - 1 + float((level - values[j - 1]) / (values[j] - values[j - 1]))
