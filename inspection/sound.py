"""Sound: a party that is never heard, and silences longer than a limit.

Voice activity is measured by energy (20 ms frames above a level), a rule with no
model: the recorded tracks are Opus, whose silence decodes to near zero. It finds sound,
not speech; which sound is speech matters for the disclosure's rate, where the speech is
the announcement's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from media.analysis import AudioTrace

from .spans import longer_than, runs, within
from .verdicts import Check, Model, Span, Verdict

MODEL = Model("dualrec-energy-vad", "1")
FRAME_MS = 20


@dataclass(frozen=True)
class SoundLimits:
    """What counts as sound, and how long a silence may last."""

    #: A 20 ms frame at or above this level (dBFS) is sound.
    level_dbfs: float = -45.0
    #: Silence of both parties longer than this needs review; three times longer fails.
    silence_ms: int = 15_000
    #: A party heard for less than this in the whole part counts as never heard.
    min_heard_ms: int = 500


@dataclass(frozen=True, eq=False)
class Activity:
    """Which 20 ms frames of a party's audio hold sound, on the part's timeline (ms)."""

    times_ms: NDArray[np.int64]
    active: NDArray[np.bool_]

    def active_between(self, start_ms: int, end_ms: int) -> NDArray[np.bool_]:
        """Sound frames in ``[start_ms, end_ms)`` as a mask over every frame of the range."""
        count = max(0, (end_ms - start_ms) // FRAME_MS)
        grid = start_ms + FRAME_MS * np.arange(count, dtype=np.int64)
        mask = np.zeros(count, dtype=bool)
        if self.times_ms.size:
            index = np.searchsorted(self.times_ms, grid)
            index = np.clip(index, 0, self.times_ms.size - 1)
            near = np.abs(self.times_ms[index] - grid) < FRAME_MS
            mask = near & self.active[index]
        return mask


def activity(trace: AudioTrace, limits: SoundLimits) -> Activity:
    """Energy voice activity of a decoded track, one decision per 20 ms."""
    width = max(1, trace.sample_rate * FRAME_MS // 1000)
    count = trace.samples.size // width
    if count == 0:
        return Activity(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))
    frames = trace.samples[: count * width].reshape(count, width).astype(np.float64)
    rms = np.sqrt((frames * frames).mean(axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-9))
    times = np.round(trace.start * 1000 + FRAME_MS * np.arange(count)).astype(np.int64)
    return Activity(times, level >= limits.level_dbfs)


def heard(party: str, sound: Activity, end_ms: int, limits: SoundLimits) -> Check:
    """Whether a party is heard at all in the part (no track, or silence throughout)."""
    name = f"{party}_audio"
    heard_ms = int(sound.active_between(0, end_ms).sum()) * FRAME_MS
    if sound.times_ms.size == 0:
        return Check(name, Verdict.FAIL, 0.0, MODEL, f"no audio recorded from the {party}")
    if heard_ms < limits.min_heard_ms:
        return Check(
            name,
            Verdict.FAIL,
            0.0,
            MODEL,
            f"the {party} is never heard ({heard_ms / 1000:.1f} s of sound)",
            (Span(0, end_ms),),
            {"heard_s": heard_ms / 1000},
        )
    return Check(
        name,
        Verdict.PASS,
        1.0,
        MODEL,
        f"the {party} is heard for {heard_ms / 1000:.1f} s",
        measures={"heard_s": heard_ms / 1000},
    )


def silences(sounds: list[Activity], start_ms: int, end_ms: int, limits: SoundLimits) -> Check:
    """Stretches of a step in which no party is heard, longer than the limit."""
    masks = [sound.active_between(start_ms, end_ms) for sound in sounds]
    count = min((m.size for m in masks), default=0)
    if count == 0:
        return Check("silence", Verdict.PASS, 1.0, MODEL, "the step is too short to judge")
    anyone = np.logical_or.reduce([m[:count] for m in masks])
    times = start_ms + FRAME_MS * np.arange(count, dtype=np.int64)
    quiet = longer_than(runs(~anyone, times, FRAME_MS), limits.silence_ms)
    if not quiet:
        return Check("silence", Verdict.PASS, 1.0, MODEL, "no long silence")
    longest = max(span.length_ms for span in quiet)
    verdict = Verdict.FAIL if longest >= 3 * limits.silence_ms else Verdict.NEEDS_REVIEW
    quiet_ms = sum(span.length_ms for span in quiet)
    selected = within(times, start_ms, end_ms)
    return Check(
        "silence",
        verdict,
        max(0.0, 1.0 - quiet_ms / max(1, int(selected.sum()) * FRAME_MS)),
        MODEL,
        f"nobody is heard for {longest / 1000:.1f} s at the longest",
        tuple(quiet),
        {"longest_s": longest / 1000},
    )
