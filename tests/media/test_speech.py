"""Announcements are spoken with espeak-ng; without it the step is refused, never skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media.speech import SpeechFailed, synthesise


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
