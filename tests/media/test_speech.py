"""Announcements are spoken with espeak-ng; without it the step is refused, never skipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common import Language
from media.speech import VOICES, SpeechFailed, synthesise
from workflow import load_flows


@pytest.mark.parametrize(
    ("language", "text"), [("en", "Invest with care."), ("zh-CN", "投资须谨慎。")]
)
async def test_speech_is_synthesised(language: str, text: str) -> None:
    samples, rate = await synthesise(text, language, speed_wpm=300)
    assert samples.dtype == np.int16 and samples.ndim == 1
    assert 0.3 < len(samples) / rate < 5.0
    assert np.abs(samples).max() > 1000  # speech, not silence


async def test_without_espeak_ng_the_announcement_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpeechFailed, match="espeak-ng is not installed"):
        await synthesise("Invest with care.", "en")


def _phonemes(voice: str, text: str) -> str:
    program = shutil.which("espeak-ng")
    assert program is not None, "espeak-ng is needed for the announcement tests"
    done = subprocess.run(
        [program, "-v", voice, "-q", "-x", text], capture_output=True, check=True, text=True
    )
    return done.stdout


def _announcements() -> list[Any]:
    return [
        pytest.param(flow.name, step.name, step.tts[Language.ZH_CN], id=f"{flow.name}.{step.name}")
        for flow in load_flows().values()
        for step in flow.steps.values()
        if step.tts is not None
    ]


def test_every_flow_has_a_chinese_announcement_to_check() -> None:
    assert _announcements()


@pytest.mark.parametrize(("flow", "step", "text"), _announcements())
def test_chinese_announcements_are_spoken_in_mandarin(flow: str, step: str, text: str) -> None:
    # espeak-ng marks a switch to English pronunciation with "(en)": the voice "cmn" of
    # espeak-ng 1.51 reads every Chinese character that way (pinyin said as English).
    phonemes = _phonemes(VOICES[Language.ZH_CN], text)
    assert phonemes.strip(), f"{flow}.{step}: no phonemes"
    assert "(en)" not in phonemes, f"{flow}.{step} is read as English: {phonemes[:120]}"
