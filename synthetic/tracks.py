"""Synthetic audio and video tracks for kiosks and scripted agents.

A party's two tracks share a `PulseClock`, so that in pulse mode a white video frame and a
1 kHz beep start at the same wall-clock instant every period: the recording's A/V offset is
then measurable (see `media.analysis`).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from common import rgb_to_yuv

VIDEO_CLOCK_RATE = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_PTIME = 0.020
TONE_AMPLITUDE = 10 ** (-14 / 20)  # -14 dBFS peak
BEEP_HZ = 1000.0
BEEP_S = 0.100
BEEP_AMPLITUDE = 10 ** (-6 / 20)  # -6 dBFS peak: louder than the tone
FLASH_YUV = (235, 128, 128)

# Wall-clock times are ~1.7e9 s, where a float64 step is ~2.4e-7 s: tolerate a few steps
# so that an instant computed to lie exactly on a pulse boundary counts as on it.
_TIME_TOLERANCE_S = 2e-6


@dataclass(frozen=True)
class PartyLook:
    """How a party's synthetic media looks and sounds."""

    label: str
    colour: tuple[int, int, int]
    tone_hz: float


KIOSK_LOOK = PartyLook(label="KIOSK", colour=(40, 90, 200), tone_hz=440.0)
AGENT_LOOK = PartyLook(label="AGENT", colour=(220, 120, 30), tone_hz=660.0)


class PulseClock:
    """Wall-clock schedule of the flash/beep pulses shared by a party's tracks."""

    def __init__(self, period_s: float = 2.0, epoch: float | None = None) -> None:
        if not period_s > BEEP_S:
            raise ValueError(f"pulse period must be longer than the beep ({BEEP_S} s)")
        self._period_s = period_s
        self._epoch = time.time() if epoch is None else epoch

    @property
    def period_s(self) -> float:
        """Seconds between two pulses."""
        return self._period_s

    @property
    def epoch(self) -> float:
        """Wall-clock time of one pulse; the others are whole periods away."""
        return self._epoch

    def next_pulse(self, t: float) -> float:
        """Wall-clock time of the first pulse at or after `t`."""
        k = math.ceil((t - self._epoch - _TIME_TOLERANCE_S) / self._period_s)
        return self._epoch + k * self._period_s

    def grid_time(self, t: float, rate: float) -> float:
        """First instant at or after `t` on the grid `epoch + k / rate`."""
        k = math.ceil((t - self._epoch - _TIME_TOLERANCE_S) * rate)
        return self._epoch + k / rate

    def in_flash(self, capture_time: float, frame_s: float) -> bool:
        """Whether a frame captured at `capture_time` is the first one at or after a pulse."""
        phase = (capture_time - self._epoch + _TIME_TOLERANCE_S) % self._period_s
        return phase < min(frame_s, self._period_s)

    def beep_samples(
        self, start_time: float, n_samples: int, sample_rate: int
    ) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        """Mask and waveform of the beep for samples starting at wall-clock `start_time`."""
        tolerance = _TIME_TOLERANCE_S * sample_rate
        first = (start_time - self._epoch) * sample_rate
        phase = (first + np.arange(n_samples) + tolerance) % (self._period_s * sample_rate)
        phase -= tolerance
        mask = phase < BEEP_S * sample_rate
        wave = np.where(mask, BEEP_AMPLITUDE * np.sin(2 * np.pi * BEEP_HZ * phase / sample_rate), 0)
        return mask, wave


class SyntheticVideoTrack(MediaStreamTrack):
    """Real-time paced video: party colour, a moving bar, label and wall-clock time."""

    kind = "video"

    def __init__(
        self,
        *,
        label: str,
        colour: tuple[int, int, int],
        width: int = 640,
        height: int = 480,
        fps: int = 15,
        pulse: PulseClock | None = None,
    ) -> None:
        super().__init__()
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"frame size must be positive and even, not {width}x{height}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, not {fps}")
        self.label = label
        self.colour = colour
        self.width = width
        self.height = height
        self.fps = fps
        self.pulse = pulse
        self._start: float | None = None
        self._index = 0
        # yuv420p as one (height * 3 / 2, width) array: Y rows, then U and V packed two
        # chroma rows per row. Precomputed once; a frame costs a copy and two putText calls.
        y, u, v = (round(c) for c in rgb_to_yuv(colour))
        self._background = _yuv420p_buffer(width, height, (y, u, v))
        self._flash = _yuv420p_buffer(width, height, FLASH_YUV)
        self._bar_w = max(4, width // 40)
        self._bar_step = (width - self._bar_w) / (4 * fps)  # crosses the picture in 4 s
        self._font_scale = 0.9 * height / 480
        self._thickness = max(1, round(2 * height / 480))

    @property
    def start_time(self) -> float | None:
        """Wall-clock capture time of the frame with pts 0, fixed by the first frame."""
        return self._start

    def capture_time(self, index: int) -> float:
        """Wall-clock instant frame `index` is due."""
        return self._ensure_start() + index / self.fps

    async def recv(self) -> av.VideoFrame:
        """Return the next frame when it is due."""
        if self.readyState != "live":
            raise MediaStreamError
        start = self._ensure_start()
        index = self._index
        self._index += 1
        wait = start + index / self.fps - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        return self.make_frame(index)

    def make_frame(self, index: int) -> av.VideoFrame:
        """Build frame `index` of the track's timeline at once, without pacing."""
        capture = self.capture_time(index)
        if self.pulse is not None and self.pulse.in_flash(capture, 1 / self.fps):
            frame = av.VideoFrame.from_ndarray(self._flash, format="yuv420p")
        else:
            buffer = self._background.copy()
            luma = buffer[: self.height]
            x = int(index * self._bar_step) % (self.width - self._bar_w)
            luma[:, x : x + self._bar_w] = 16
            self._text(luma, self.label, 0.1)
            self._text(luma, _wall_clock_text(capture), 0.93)
            frame = av.VideoFrame.from_ndarray(buffer, format="yuv420p")
        frame.pts = round(index * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        return frame

    def _text(self, luma: NDArray[np.uint8], text: str, row: float) -> None:
        origin = (round(0.04 * self.width), round(row * self.height))
        cv2.putText(
            luma, text, origin, cv2.FONT_HERSHEY_SIMPLEX, self._font_scale, 235, self._thickness
        )

    def _ensure_start(self) -> float:
        if self._start is None:
            now = time.time()
            # On the pulse grid, so that a frame falls exactly on each pulse when the
            # period is a whole number of frames.
            self._start = now if self.pulse is None else self.pulse.grid_time(now, self.fps)
        return self._start


class SyntheticAudioTrack(MediaStreamTrack):
    """Real-time paced 20 ms s16 mono frames of a sine tone, with beeps in pulse mode."""

    kind = "audio"

    def __init__(
        self, *, tone_hz: float, pulse: PulseClock | None = None, sample_rate: int = 48000
    ) -> None:
        super().__init__()
        samples = AUDIO_PTIME * sample_rate
        if sample_rate <= 0 or samples != int(samples):
            raise ValueError(f"sample rate {sample_rate} does not give whole 20 ms frames")
        self.tone_hz = tone_hz
        self.pulse = pulse
        self.sample_rate = sample_rate
        self.samples_per_frame = int(samples)
        self._time_base = fractions.Fraction(1, sample_rate)
        self._start: float | None = None
        self._index = 0

    @property
    def start_time(self) -> float | None:
        """Wall-clock capture time of the sample with pts 0, fixed by the first frame."""
        return self._start

    def capture_time(self, pts: int) -> float:
        """Wall-clock instant of sample `pts`."""
        return self._ensure_start() + pts / self.sample_rate

    async def recv(self) -> av.AudioFrame:
        """Return the next frame when its first sample is due, as aiortc's own tracks do."""
        if self.readyState != "live":
            raise MediaStreamError
        start = self._ensure_start()
        index = self._index
        self._index += 1
        wait = start + index * AUDIO_PTIME - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        return self.make_frame(index)

    def make_frame(self, index: int) -> av.AudioFrame:
        """Build frame `index` of the track's timeline at once, without pacing."""
        n = self.samples_per_frame
        pts = index * n
        t = (pts + np.arange(n)) / self.sample_rate
        signal = TONE_AMPLITUDE * np.sin(2 * np.pi * self.tone_hz * t)
        if self.pulse is not None:
            mask, beep = self.pulse.beep_samples(self.capture_time(pts), n, self.sample_rate)
            signal = np.where(mask, beep, signal)
        pcm = np.round(signal * 32767).astype(np.int16).reshape(1, n)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = pts
        frame.time_base = self._time_base
        return frame

    def _ensure_start(self) -> float:
        if self._start is None:
            now = time.time()
            # On the pulse's sample grid, so that each beep starts exactly on a sample.
            rate = self.sample_rate
            self._start = now if self.pulse is None else self.pulse.grid_time(now, rate)
        return self._start


def synthetic_tracks(
    label: str,
    colour: tuple[int, int, int],
    tone_hz: float,
    pulse: bool,
    fps: int = 15,
    size: tuple[int, int] = (640, 480),
    period_s: float = 2.0,
) -> tuple[SyntheticAudioTrack, SyntheticVideoTrack]:
    """Build a party's audio and video tracks on one `PulseClock` (when `pulse`)."""
    clock = PulseClock(period_s) if pulse else None
    audio = SyntheticAudioTrack(tone_hz=tone_hz, pulse=clock)
    video = SyntheticVideoTrack(
        label=label, colour=colour, width=size[0], height=size[1], fps=fps, pulse=clock
    )
    return audio, video


def _yuv420p_buffer(width: int, height: int, yuv: tuple[int, int, int]) -> NDArray[np.uint8]:
    buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
    buffer[:height] = yuv[0]
    buffer[height : height * 5 // 4] = yuv[1]
    buffer[height * 5 // 4 :] = yuv[2]
    return buffer


def _wall_clock_text(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
