"""The customer's spoken confirmation: the step's phrase said aloud, not refused.

The customer's (kiosk) sound in the step is cut into utterances (sound with pauses
under ``SpeechLimits.max_gap_ms``), each recognised offline (``recogniser``) and
matched against the step's confirmation phrase in the call's language
(``confirmation``). The phrase heard passes; a refusal, no speech or something else
fails; part of the phrase needs a person to listen, as does a phrase heard beside a
refusal. With no speech model for the language, the check is left to a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common import Language
from media.analysis import AudioTrace

from .confirmation import REFUSALS, Heard, Match, MatchLimits, match
from .recogniser import Recogniser, to_recogniser_rate
from .sound import FRAME_MS, Activity
from .spans import runs
from .verdicts import RULES, Check, Span, Verdict

NAME = "confirmation_speech"
#: The detail of a Mandarin call's check when no Mandarin model is configured.
NO_MANDARIN_MODEL = "not judged without a Mandarin model"


@dataclass(frozen=True)
class SpeechLimits:
    """Speech models and what counts as one utterance."""

    #: Language -> a PocketSphinx model folder (``recogniser``); English defaults to the
    #: model the pocketsphinx wheel ships, Mandarin to none.
    models: dict[str, Path] = field(default_factory=dict)
    match: MatchLimits = field(default_factory=MatchLimits)
    #: Sound separated by a pause shorter than this is one utterance.
    max_gap_ms: int = 800
    #: Sound shorter than this is no utterance (a knock, a click).
    min_ms: int = 200
    #: Kept around each utterance, so that its first and last sounds are whole.
    pad_ms: int = 250


def utterances(kiosk: Activity, start_ms: int, end_ms: int, limits: SpeechLimits) -> list[Span]:
    """The customer's utterances in ``[start_ms, end_ms)``, padded within it."""
    active = kiosk.active_between(start_ms, end_ms)
    times = start_ms + FRAME_MS * np.arange(active.size, dtype=np.int64)
    joined: list[Span] = []
    for span in runs(active, times, FRAME_MS):
        if joined and span.start_ms - joined[-1].end_ms < limits.max_gap_ms:
            joined[-1] = Span(joined[-1].start_ms, span.end_ms)
        else:
            joined.append(span)
    return [
        Span(max(start_ms, s.start_ms - limits.pad_ms), min(end_ms, s.end_ms + limits.pad_ms))
        for s in joined
        if s.length_ms >= limits.min_ms
    ]


def _not_judged(language: str, start_ms: int, end_ms: int) -> Check:
    why = (
        NO_MANDARIN_MODEL
        if language == Language.ZH_CN.value
        else f"not judged without a speech model for {language}"
    )
    detail = f"{why}: a person listens to the customer's confirmation"
    return Check(NAME, Verdict.NEEDS_REVIEW, 0.5, RULES, detail, (Span(start_ms, end_ms),))


def confirmation_speech(
    sound: AudioTrace,
    kiosk: Activity,
    start_ms: int,
    end_ms: int,
    phrase: str,
    language: str,
    recogniser: Recogniser | None,
    limits: SpeechLimits,
) -> Check:
    """Whether the customer said the step's ``phrase`` (not a refusal) in the step."""
    if recogniser is None:
        return _not_judged(language, start_ms, end_ms)
    model = recogniser.model
    expected = [phrase, *REFUSALS.get(language, ())]
    said: list[tuple[Span, str, Match]] = []
    for span in utterances(kiosk, start_ms, end_ms, limits):
        samples = sound.between(span.start_ms / 1000, span.end_ms / 1000)
        text = recogniser.recognise(to_recogniser_rate(samples, sound.sample_rate), expected)
        said.append((span, text, match(text, phrase, language, limits.match)))
    speech_s = sum(span.length_ms for span, _, _ in said) / 1000
    measures = {"utterances": float(len(said)), "speech_s": speech_s}
    if not said:
        return Check(
            NAME,
            Verdict.FAIL,
            0.0,
            model,
            "the customer says nothing in the step: no spoken confirmation",
            (Span(start_ms, end_ms),),
            measures,
        )
    best = max(said, key=lambda s: s[2].share)
    share = best[2].share
    measures["phrase_share"] = share
    phrases = [s for s in said if s[2].heard is Heard.PHRASE]
    refusals = [s for s in said if s[2].heard is Heard.REFUSAL or s[2].refusal is not None]
    partial = [s for s in said if s[2].heard is Heard.PARTIAL]
    if phrases and refusals:
        verdict, chosen = Verdict.NEEDS_REVIEW, phrases + refusals
        detail = f"the phrase and a refusal are both heard: {_quoted(chosen, phrase)}"
    elif phrases:
        verdict, chosen = Verdict.PASS, phrases
        detail = f"the customer says the phrase: {_quoted(chosen, phrase)}"
    elif refusals:
        verdict, chosen, share = Verdict.FAIL, refusals, 0.0
        detail = f"the customer refuses: {_quoted(chosen, phrase)}"
    elif partial:
        verdict, chosen = Verdict.NEEDS_REVIEW, partial
        detail = f"only part of the phrase is heard ({share:.0%}): {_quoted(chosen, phrase)}"
    else:
        verdict, chosen = Verdict.FAIL, said
        detail = f"the customer says something other than {phrase!r}: {_quoted(said, phrase)}"
    spans = tuple(sorted({span for span, _, _ in chosen}, key=lambda s: s.start_ms))
    return Check(NAME, verdict, min(1.0, share), model, detail, spans, measures)


def _quoted(said: list[tuple[Span, str, Match]], phrase: str) -> str:
    """Where each utterance was, quoting only the expected words it was found to be: the
    recogniser's own text (a language model's may hold anything the customer said, an ID
    number spelt out) never goes into the report."""
    quoted = []
    for span, _, found in said:
        at = f"at {span.start_ms / 1000:.1f} s"
        if found.heard is Heard.PHRASE:
            quoted.append(f"{phrase!r} {at}")
        elif found.refusal is not None:
            quoted.append(f"{found.refusal!r} {at}")
        else:
            quoted.append(f"{found.share:.0%} of the phrase {at}")
    return "; ".join(quoted)
