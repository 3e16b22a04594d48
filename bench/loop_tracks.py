"""Pre-encoded 2-second media loops replayed in real time as aiortc tracks.

Encoding 32 live streams would load the machine the benchmark measures, so each party's
media is encoded once (VP8 with aiortc's own realtime settings, Opus as aiortc encodes
it) and the encoded frames are replayed as ``av.Packet``s: aiortc's senders then only
packetize them. Loop starts are aligned to a shared epoch, and each loop starts with a
white (key)frame and a 1 kHz beep, so flash and beep happen at the same wall-clock
instant in every track of every party. Pre-encoded media cannot honour keyframe
requests (PLIs): the only keyframes are at loop starts.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from common import rgb_to_yuv

LOOP_S = 2.0
FPS = 15
AUDIO_FPS = 50  # 20 ms Opus frames
WIDTH, HEIGHT = 640, 480
CLOCK_RATES = {"video": 90000, "audio": 48000}
FRAME_RATES = {"video": FPS, "audio": AUDIO_FPS}
SAMPLE_RATE = 48000
SAMPLES = SAMPLE_RATE // AUDIO_FPS
VIDEO_BITRATE = 500_000  # aiortc's default VP8 target
OPUS_PRESKIP = 312  # libopus look-ahead: the input is advanced by it so beeps decode on time
TONE_AMPLITUDE = 10 ** (-14 / 20)
BEEP_AMPLITUDE = 10 ** (-6 / 20)
BEEP_S = 0.100
#: A -60 dBFS noise floor: without it the tones repeat every 5 frames and so would their
#: Opus frames; with it every frame of the loop is unique and identifies itself.
DITHER = 10 ** (-60 / 20)
NOISE = 3  # camera-like luma noise, so VP8 runs near its target bitrate

KIOSK = ("kiosk", (40, 90, 200), 440.0)
AGENT = ("agent", (220, 120, 30), 660.0)


@dataclass(frozen=True)
class PartyLoop:
    """One party's encoded 2-second loop: 30 VP8 frames and 100 Opus frames."""

    party: str
    video: list[bytes]
    audio: list[bytes]

    @property
    def video_kbps(self) -> float:
        """Mean VP8 bitrate of the loop."""
        return sum(map(len, self.video)) * 8 / LOOP_S / 1000


def _video_pictures(colour: tuple[int, int, int]) -> list[np.ndarray]:
    """The loop's pictures in yuv420p: a white flash, then colour, a moving bar and noise."""
    rng = np.random.default_rng(7)
    y, u, v = (round(c) for c in rgb_to_yuv(colour))
    count = round(LOOP_S * FPS)
    pictures = []
    for i in range(count):
        buffer = np.empty((HEIGHT * 3 // 2, WIDTH), dtype=np.uint8)
        if i == 0:
            buffer[:HEIGHT], buffer[HEIGHT:] = 235, 128
        else:
            luma = np.full((HEIGHT, WIDTH), y, dtype=np.int16)
            x = i * (WIDTH - 16) // count
            luma[:, x : x + 16] = 16
            luma += rng.integers(-NOISE, NOISE + 1, (HEIGHT, WIDTH), dtype=np.int16)
            buffer[:HEIGHT] = np.clip(luma, 0, 255)
            buffer[HEIGHT : HEIGHT * 5 // 4], buffer[HEIGHT * 5 // 4 :] = u, v
        pictures.append(buffer)
    return pictures


def encode_video(colour: tuple[int, int, int]) -> list[bytes]:
    """30 VP8 frames (640x480, 15 fps, realtime, cpu-used -6), the first a keyframe."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS)
    codec.bit_rate, codec.gop_size, codec.qmin, codec.qmax = VIDEO_BITRATE, 3000, 2, 56
    rate = str(VIDEO_BITRATE)
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "-6",
        "lag-in-frames": "0",
        "bufsize": rate,
        "minrate": rate,
        "maxrate": rate,
        "static-thresh": "1",
        "undershoot-pct": "100",
        "overshoot-pct": "15",
    }
    pictures = _video_pictures(colour)
    packets: list[bytes] = []
    # The second pass is kept: the rate control has settled by then.
    for loop in range(2):
        for i, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts, frame.time_base = loop * len(pictures) + i, codec.time_base
            if i == 0:
                frame.pict_type = av.video.frame.PictureType.I
            packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    loop_packets = packets[len(pictures) : 2 * len(pictures)]
    if len(loop_packets) != len(pictures) or loop_packets[0][0] & 0x01:
        raise RuntimeError("the VP8 loop does not start on a keyframe")
    if len(set(loop_packets)) != len(pictures):
        raise RuntimeError("the VP8 loop has repeated frames")
    return loop_packets


def encode_audio(tone_hz: float) -> list[bytes]:
    """100 Opus frames (48 kHz stereo, as aiortc encodes): a 1 kHz beep, then the tone."""
    length = round(LOOP_S * SAMPLE_RATE)
    n = np.arange(length)
    tone = TONE_AMPLITUDE * np.sin(2 * np.pi * tone_hz * n / SAMPLE_RATE)
    beep = BEEP_AMPLITUDE * np.sin(2 * np.pi * 1000.0 * n / SAMPLE_RATE)
    dither = DITHER * np.random.default_rng(11).standard_normal(length)
    loop = np.where(n < BEEP_S * SAMPLE_RATE, beep, tone) + dither
    pcm = np.round(np.roll(np.tile(loop, 3), -OPUS_PRESKIP) * 32767).astype(np.int16)
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate, codec.format, codec.layout = 96000, "s16", "stereo"
    codec.sample_rate, codec.time_base = SAMPLE_RATE, fractions.Fraction(1, SAMPLE_RATE)
    codec.options = {"application": "voip"}
    packets: list[bytes] = []
    for k in range(len(pcm) // SAMPLES):
        block = np.repeat(pcm[k * SAMPLES : (k + 1) * SAMPLES], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, k * SAMPLES, codec.time_base
        packets += [bytes(p) for p in codec.encode(frame)]
    per_loop = length // SAMPLES
    loop_packets = packets[per_loop : 2 * per_loop]
    if len(set(loop_packets)) != per_loop:
        raise RuntimeError("the Opus loop has repeated frames")
    return loop_packets


def encode_party(party: tuple[str, tuple[int, int, int], float]) -> PartyLoop:
    """Encode one party's loop (kiosk blue and 440 Hz, agent orange and 660 Hz)."""
    name, colour, tone_hz = party
    return PartyLoop(name, encode_video(colour), encode_audio(tone_hz))


@dataclass
class SendStats:
    """What one replayed track sent, as indices on the epoch's frame grid."""

    party: str
    kind: str
    first_index: int | None = None
    last_index: int | None = None
    count: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return {
            "party": self.party,
            "kind": self.kind,
            "first_index": self.first_index,
            "last_index": self.last_index,
            "count": self.count,
        }


class LoopTrack(MediaStreamTrack):
    """Replays a loop of encoded frames in real time, loop starts on the shared epoch."""

    def __init__(self, kind: str, frames: list[bytes], epoch: float, stats: SendStats) -> None:
        super().__init__()
        self.kind = kind
        self._frames = frames
        self._epoch = epoch
        self._rate = FRAME_RATES[kind]
        self._ticks = CLOCK_RATES[kind] // self._rate
        self._time_base = fractions.Fraction(1, CLOCK_RATES[kind])
        self._start: int | None = None
        self._next = 0
        self.stats = stats

    async def recv(self) -> av.Packet[Any]:
        """The next frame when it is due on the epoch's grid (aiortc's pacing)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = self._next = math.ceil((time.time() - self._epoch) * self._rate)
        index = self._next
        self._next += 1
        wait = self._epoch + index / self._rate - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._frames[index % len(self._frames)])
        packet.pts = (index - self._start) * self._ticks
        packet.time_base = self._time_base
        stats = self.stats
        if stats.first_index is None:
            stats.first_index = index
        stats.last_index = index
        stats.count += 1
        return packet


def party_tracks(loop: PartyLoop, epoch: float) -> list[LoopTrack]:
    """A party's audio and video tracks on the shared epoch."""
    return [
        LoopTrack("audio", loop.audio, epoch, SendStats(loop.party, "audio")),
        LoopTrack("video", loop.video, epoch, SendStats(loop.party, "video")),
    ]
