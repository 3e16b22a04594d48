"""Spoken announcements: a step's text synthesised with espeak-ng for the call and recording."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import wave
from pathlib import Path

import numpy as np

from .errors import AnnouncementFailed

#: espeak-ng voices for the customer's languages.
VOICES = {"zh-CN": "cmn", "en": "en"}


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise AnnouncementFailed(f"espeak-ng wrote {8 * wav.getsampwidth()}-bit audio")
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, rate = wav.getnchannels(), wav.getframerate()
    return samples.reshape(-1, channels)[:, 0].astype(np.int16), rate


async def synthesise(text: str, language: str, *, speed_wpm: int = 175) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng: int16 mono samples and their rate."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise AnnouncementFailed(
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
            raise AnnouncementFailed(f"espeak-ng failed: {problem}")
        samples, rate = await asyncio.to_thread(_read_wav, out)
    if samples.size == 0:
        raise AnnouncementFailed("espeak-ng produced no sound")
    return samples, rate
