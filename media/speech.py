"""Speech the server plays into a call: a step's text spoken by espeak-ng, then Opus.

``synthesise`` runs espeak-ng for the customer's language; ``encode_opus`` encodes the
audio once, on a worker thread, into 20 ms frames that are paced out in place of the
agent's microphone: the customer hears it and the recording keeps it on the agent's
audio track, where it was heard.
"""

from __future__ import annotations

import asyncio
import fractions
import shutil
import tempfile
import wave
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from common import Language

from .errors import MediaError

#: What speaks: named in the evidence record of every announcement played.
ENGINE = "espeak-ng"
RATE = 48000
FRAME = 960  # 20 ms at 48 kHz
#: espeak-ng voices for the customer's languages. Mandarin is ``cmn-latn-pinyin``: on
#: espeak-ng 1.51 (Debian 12) the voice ``cmn`` reads Chinese characters as pinyin spoken
#: with English phonemes and tone numbers ("ben three ..."), unintelligible to a customer.
VOICES: dict[str, str] = {Language.ZH_CN: "cmn-latn-pinyin", Language.EN: "en"}


class SpeechFailed(MediaError):
    """Text-to-speech could not make a step's announcement (espeak-ng missing or failing)."""


def encode_opus(samples: NDArray[np.int16], sample_rate: int) -> list[bytes]:
    """Mono 16-bit PCM as 20 ms Opus frames at 48 kHz (blocking)."""
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise MediaError("an announcement must be mono 16-bit PCM")
    if not len(samples):
        raise MediaError("an announcement must not be empty")
    source = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    source.sample_rate = sample_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE, frame_size=FRAME)
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = RATE, "mono", "s16"
    encoder.time_base = fractions.Fraction(1, RATE)
    encoder.options = {"application": "voip"}
    packets: list[bytes] = []
    pts = 0
    for frame in [*resampler.resample(source), *resampler.resample(None)]:
        if frame.samples < FRAME:  # pad the last frame to a whole 20 ms
            pad = np.zeros((1, FRAME), np.int16)
            pad[0, : frame.samples] = frame.to_ndarray()[0, : frame.samples]
            frame = av.AudioFrame.from_ndarray(pad, format="s16", layout="mono")
            frame.sample_rate = RATE
        frame.pts, pts = pts, pts + FRAME
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    return packets


def _read_wav(path: Path) -> tuple[NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise SpeechFailed(f"espeak-ng wrote {8 * wav.getsampwidth()}-bit audio")
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, rate = wav.getnchannels(), wav.getframerate()
    return samples.reshape(-1, channels)[:, 0].astype(np.int16), rate


async def synthesise(
    text: str, language: str, *, speed_wpm: int = 175
) -> tuple[NDArray[np.int16], int]:
    """Speak ``text`` with espeak-ng: int16 mono samples and their rate."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise SpeechFailed(
            "text-to-speech is unavailable: espeak-ng is not installed on the server"
        )
    with tempfile.TemporaryDirectory(prefix="dualrec-tts-") as folder:
        out = Path(folder) / "announcement.wav"
        process = await asyncio.create_subprocess_exec(
            program,
            "-v",
            VOICES.get(language, "en"),
            "-s",
            str(speed_wpm),
            "-w",
            str(out),
            "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate(text.encode("utf-8"))
        if process.returncode != 0 or not out.is_file():
            problem = (
                stderr.decode("utf-8", "replace").strip()[:200] or f"exit {process.returncode}"
            )
            raise SpeechFailed(f"espeak-ng failed: {problem}")
        samples, rate = await asyncio.to_thread(_read_wav, out)
    if samples.size == 0:
        raise SpeechFailed("espeak-ng produced no sound")
    return samples, rate
