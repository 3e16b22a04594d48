"""The spoken-confirmation check on constructed parts: real espeak-ng speech, real PocketSphinx.

The customer speaks at 26 s in wealth_purchase's risk disclosure (0-29 s), whose phrase
is "I have read and understood the risks", in espeak-ng's US English voice (the
recogniser's model is US English: see ``inspection.recogniser``).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from numpy.typing import NDArray

from bench.accuracy_set import NO_MANDARIN_MODEL
from bench.constructed import Script, build
from common import Party
from inspection import Check, RecordedPart, Verdict, inspect_folder_once, read_part
from inspection.confirmation import REFUSALS
from inspection.recogniser import packaged_model, recogniser_for, to_recogniser_rate
from inspection.sound import SoundLimits, activity
from inspection.spoken import NAME, SpeechLimits, confirmation_speech
from workflow import load_flows

KEY = Ed25519PrivateKey.generate()
FLOW = load_flows()["wealth_purchase"]
STEP = "risk_disclosure"
PHRASE = FLOW.step(STEP).confirmation_phrase
SAID = {
    "phrase": Script(customer_voice="en-us"),
    "refusal": Script(customer_says="No, I do not agree to this.", customer_voice="en-us"),
    "other": Script(
        customer_says="Could you tell me when the branch closes today?", customer_voice="en-us"
    ),
    "silent": Script(customer_speaks=False),
    "mandarin": Script(customer_says="本人已阅读并理解风险揭示", customer_voice="cmn"),
}


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One constructed part per thing the customer says."""
    folder = tmp_path_factory.mktemp("said")
    return {name: build(folder / name, KEY, script) for name, script in SAID.items()}


def _check(
    folder: Path, language: str = "en", models: dict[str, Path] | None = None
) -> tuple[Check, RecordedPart]:
    """The check of the risk disclosure (0-29 s) as the call's ``language`` has it."""
    part = read_part(folder, FLOW.initial)
    assert PHRASE is not None and part.steps[0].name == STEP
    limits = SpeechLimits(models=models or {})
    heard = activity(part.sound[Party.KIOSK], SoundLimits())
    step = part.steps[0]
    check = confirmation_speech(
        part.sound[Party.KIOSK],
        heard,
        step.start_ms,
        step.end_ms,
        PHRASE[language],
        language,
        recogniser_for(language, limits.models),
        limits,
    )
    return check, part


def test_the_phrase_said_passes_in_the_part_s_inspection(parts: dict[str, Path]) -> None:
    report = inspect_folder_once(parts["phrase"], load_flows(), KEY, None).report
    step = next(s for s in report.steps if s.name == STEP)
    check = next(c for c in step.checks if c.name == NAME)
    assert check.verdict is Verdict.PASS, check.detail
    # Only the expected words are quoted, never the recogniser's own text.
    assert re.search(
        r"says the phrase: 'I have read and understood the risks' at 2\d\.\d s$", check.detail
    )
    assert check.model.name == "pocketsphinx-en-us" and check.model.licence == "BSD-2-Clause"
    assert check.model.to_dict() in report.models
    # The customer's speech (26 s, about 2.3 s long) is the span.
    (span,) = check.spans
    assert 25_000 <= span.start_ms <= 26_100 and 27_500 <= span.end_ms <= 29_000
    others = [c.name for s in report.steps if s.name != STEP for c in s.checks]
    assert NAME not in others  # no other step of the part has a phrase


def test_a_refusal_fails(parts: dict[str, Path]) -> None:
    check, _ = _check(parts["refusal"])
    assert check.verdict is Verdict.FAIL and "refuses" in check.detail, check.detail
    assert check.spans and check.spans[0].start_ms >= 25_000


def test_something_else_said_fails(parts: dict[str, Path]) -> None:
    check, _ = _check(parts["other"])
    assert check.verdict is Verdict.FAIL and "something other than" in check.detail
    assert re.search(r"\d+% of the phrase at 2\d\.\d s$", check.detail), check.detail
    assert check.measures["utterances"] == 1.0


def test_silence_fails(parts: dict[str, Path]) -> None:
    check, _ = _check(parts["silent"])
    assert check.verdict is Verdict.FAIL and "says nothing" in check.detail
    assert check.measures["utterances"] == 0.0


def test_mandarin_without_a_model_is_left_to_a_person(parts: dict[str, Path]) -> None:
    check, _ = _check(parts["mandarin"], "zh-CN")
    assert check.verdict is Verdict.NEEDS_REVIEW
    assert NO_MANDARIN_MODEL in check.detail


def test_a_configured_model_folder_is_used(parts: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "bank-en"
    folder.mkdir()
    shutil.copytree(packaged_model() / "en-us", folder / "acoustic")
    shutil.copy(packaged_model() / "cmudict-en-us.dict", folder / "words.dict")
    check, _ = _check(parts["phrase"], models={"en": folder})
    assert check.verdict is Verdict.PASS, check.detail
    assert check.model.name == "pocketsphinx-en:bank-en"
    refused, _ = _check(parts["refusal"], models={"en": folder})
    assert refused.verdict is Verdict.FAIL


def test_a_configured_mandarin_folder_is_judged_rather_than_left(tmp_path: Path) -> None:
    folder = tmp_path / "zh"
    shutil.copytree(packaged_model(), folder)
    recogniser = recogniser_for("zh-CN", {"zh-CN": folder})
    assert recogniser is not None and recogniser.model.name == "pocketsphinx-zh-CN:zh"
    with pytest.raises(ValueError, match="does not exist"):
        recogniser_for("zh-CN", {"zh-CN": tmp_path / "missing"})


def _espeak(text: str) -> NDArray[np.int16]:
    """``text`` spoken by espeak-ng's US English voice, at the recogniser's rate, with
    250 ms of silence either side as the check cuts utterances (``SpeechLimits.pad_ms``)."""
    done = subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True
    )
    with wave.open(io.BytesIO(done.stdout)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        rate = wav.getframerate()
    scaled = samples.astype(np.float32)
    scaled /= 32768
    silence = np.zeros(4000, np.int16)
    return np.concatenate([silence, to_recogniser_rate(scaled, rate), silence])


def test_long_or_unrelated_speech_is_neither_the_phrase_nor_a_refusal() -> None:
    recogniser = recogniser_for("en", {})
    assert recogniser is not None and PHRASE is not None
    expected = [PHRASE["en"], *REFUSALS["en"]]
    disclosure = FLOW.step(STEP).tts
    assert disclosure is not None
    assert recogniser.recognise(_espeak(disclosure["en"]), expected) == ""
    assert (
        recogniser.recognise(_espeak("I would like to open a savings account please."), expected)
        == ""
    )
    assert recogniser.recognise(_espeak("I refuse."), expected) == "i refuse"
    assert recogniser.recognise(_espeak(PHRASE["en"]), expected) == PHRASE["en"].lower()
