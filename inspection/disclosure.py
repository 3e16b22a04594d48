"""Disclosure: the announcement's (or the agent's) speech covers the disclosure text.

A disclosure read too fast is not a disclosure. The text needs a time to be read at a
normal rate for its language (characters a minute for Chinese, words a minute for
English); the agent's track in the step must hold speech from its first to its last
sound for at least that long, and the rate that follows must not pass a limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from common import Language

from .sound import FRAME_MS, Activity
from .spans import runs
from .verdicts import Check, Model, Span, Verdict

MODEL = Model("dualrec-reading-rate", "1")
_HAN = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")


@dataclass(frozen=True)
class Rates:
    """Normal and highest reading rates, in units (characters or words) a minute.

    Chinese news is read at about 240-300 characters a minute, clear English at 150-190
    words; the server's announcements (espeak-ng at 175) come out at about 205 and 175.
    """

    normal: dict[str, float] = field(
        default_factory=lambda: {Language.ZH_CN.value: 260.0, Language.EN.value: 190.0}
    )
    highest: dict[str, float] = field(
        default_factory=lambda: {Language.ZH_CN.value: 330.0, Language.EN.value: 240.0}
    )
    #: Pauses in the speech longer than this end the disclosure's reading.
    max_pause_ms: int = 3000


def units(text: str, language: str) -> int:
    """Characters (Chinese) or words (English) of a text: what the reading rate counts."""
    if language == Language.ZH_CN.value:
        return len(_HAN.findall(text)) + len(_WORD.findall(_HAN.sub(" ", text)))
    return len(_WORD.findall(text))


def reading_check(
    text: str,
    language: str,
    agent: Activity,
    start_ms: int,
    end_ms: int,
    rates: Rates,
) -> Check:
    """The step's speech against the time its disclosure text needs."""
    count = units(text, language)
    normal = rates.normal.get(language, rates.normal[Language.EN.value])
    highest = rates.highest.get(language, rates.highest[Language.EN.value])
    needed_s = 60.0 * count / normal
    active = agent.active_between(start_ms, end_ms)
    times = start_ms + FRAME_MS * np.arange(active.size, dtype=np.int64)
    sounds = runs(active, times, FRAME_MS)
    if not sounds:
        return Check(
            "disclosure_read",
            Verdict.FAIL,
            0.0,
            MODEL,
            "no speech in the disclosure step",
            (Span(start_ms, end_ms),),
            {"needed_s": needed_s, "units": float(count)},
        )
    # The reading: the longest stretch of sound with no pause longer than the limit.
    stretches: list[Span] = []
    for span in sounds:
        if stretches and span.start_ms - stretches[-1].end_ms <= rates.max_pause_ms:
            stretches[-1] = Span(stretches[-1].start_ms, span.end_ms)
        else:
            stretches.append(span)
    reading = max(stretches, key=lambda s: s.length_ms)
    spoken_s = reading.length_ms / 1000
    rate = 60.0 * count / max(spoken_s, 1e-3)
    measures = {
        "needed_s": needed_s,
        "spoken_s": spoken_s,
        "rate_per_min": rate,
        "units": float(count),
    }
    unit = "characters" if language == Language.ZH_CN.value else "words"
    detail = (
        f"{count} {unit} read in {spoken_s:.1f} s ({rate:.0f} a minute; "
        f"normal {normal:.0f}, limit {highest:.0f}: {needed_s:.1f} s needed)"
    )
    score = min(1.0, spoken_s / needed_s) if needed_s else 1.0
    if rate > highest:
        return Check("disclosure_read", Verdict.FAIL, score, MODEL, detail, (reading,), measures)
    if rate > normal:
        return Check(
            "disclosure_read", Verdict.NEEDS_REVIEW, score, MODEL, detail, (reading,), measures
        )
    return Check("disclosure_read", Verdict.PASS, score, MODEL, detail, (reading,), measures)
