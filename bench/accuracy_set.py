"""The inspection accuracy benchmark's labelled set: constructed parts, what each should show.

Every sample is a real, signed part built by ``bench.constructed`` from a ``Script``
(scikit-image's astronaut as the face, espeak-ng as the voices) and carries its label:
for each check, the places (a step's name, or ``PART`` for the checks of the whole part)
where it should find a problem. Everywhere else, every check should find none. The
labels follow from the construction (where the face was taken away, what the customer
said), never from what the checks answered.

The part's steps are fixed (``bench.constructed.STEPS``): risk_disclosure 0-29 s (the
disclosure from 1 s, the customer's confirmation from 26 s), cooling_off 29-32 s,
signature 32-35 s, purchase_confirmed 35-37 s. The two identity samples open with the
identity check and the steps before the disclosure (``bench.constructed.LEAD_STEPS``),
everything after 8 s later; only their identity is labelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from common import Language
from media.speech import VOICES

from .constructed import END_MS, STEPS, Script

#: Where the checks of the whole part (not of a step) are found.
PART = "part"
DISCLOSURE, COOLING_OFF, SIGNATURE, CONFIRMED = (name for name, _, _ in STEPS)
CONFIRMATION = "confirmation_speech"
#: Why a check may honestly leave a sample to a person (a needs-review verdict that is
#: counted apart, neither found nor missed).
NO_MANDARIN_MODEL = "not judged without a Mandarin model"
#: espeak-ng's voice for Mandarin (the announcements'; ``cmn`` reads hanzi as English).
MANDARIN = VOICES[Language.ZH_CN]


@dataclass(frozen=True)
class Sample:
    """One constructed part of the set and what each check should find in it."""

    name: str
    #: What happens in it, in a few words, for the report.
    what: str
    script: Script
    #: check name -> the steps (or PART) where it should flag a problem.
    problems: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: The customer's language.
    language: str = "en"
    #: check name -> why a needs-review there is "not judged" rather than a finding.
    unjudged: Mapping[str, str] = field(default_factory=dict)

    def expects(self, check: str, where: str) -> bool:
        """Whether ``check`` should flag a problem at ``where``."""
        return where in self.problems.get(check, frozenset())


def steps_in(ranges: list[tuple[int, int]]) -> frozenset[str]:
    """The steps of the constructed part that the ranges (ms) overlap."""
    ends = [start for _, start, _ in STEPS[1:]] + [END_MS]
    return frozenset(
        name
        for (name, start, _), end in zip(STEPS, ends, strict=True)
        if any(a < end and b > start for a, b in ranges)
    )


def _unseen(ranges: list[tuple[int, int]]) -> dict[str, frozenset[str]]:
    """The customer's face not to be seen for ``ranges``: both face checks should say so."""
    where = steps_in(ranges)
    return {"customer_face": where, "customer_left_picture": where}


def _said(name: str, what: str, words: str, voice: str, *, ok: bool) -> Sample:
    """The customer says ``words`` in the confirmation (``ok``: the step's phrase)."""
    mandarin = voice == MANDARIN
    return Sample(
        name,
        what,
        Script(
            customer_says=words,
            customer_voice=voice,
            language=Language.ZH_CN if mandarin else Language.EN,
        ),
        {} if ok else {CONFIRMATION: frozenset({DISCLOSURE})},
        language="zh-CN" if mandarin else "en",
        unjudged={CONFIRMATION: NO_MANDARIN_MODEL} if mandarin else {},
    )


SAMPLES: tuple[Sample, ...] = (
    Sample("clean", "everything an inspector wants", Script()),
    Sample(
        "no_face",
        "the customer never in the picture",
        Script(customer_away=[(0, END_MS)]),
        _unseen([(0, END_MS)]),
    ),
    Sample(
        "face_leaves",
        "the customer away 8-16 s, in the disclosure",
        Script(customer_away=[(8_000, 16_000)]),
        _unseen([(8_000, 16_000)]),
    ),
    Sample(
        "face_leaves_3s",
        "the customer away 20-23 s, in the disclosure",
        Script(customer_away=[(20_000, 23_000)]),
        _unseen([(20_000, 23_000)]),
    ),
    Sample(
        "face_leaves_signing",
        "the customer away for the whole signature step",
        Script(customer_away=[(32_000, 35_000)]),
        _unseen([(32_000, 35_000)]),
    ),
    Sample(
        "two_faces",
        "a second face 18-23 s",
        Script(second_face=[(18_000, 23_000)]),
        {"second_face": steps_in([(18_000, 23_000)])},
    ),
    Sample(
        "two_faces_brief",
        "a second face for 1.5 s (10-11.5 s)",
        Script(second_face=[(10_000, 11_500)]),
        {"second_face": steps_in([(10_000, 11_500)])},
    ),
    Sample(
        "two_faces_cooling_off",
        "a second face through the cooling-off step",
        Script(second_face=[(29_000, 32_000)]),
        {"second_face": steps_in([(29_000, 32_000)])},
    ),
    Sample(
        "black_cooling_off",
        "the customer's picture black through the cooling-off step",
        Script(kiosk_black=[(29_000, 32_000)]),
        {"kiosk_picture": steps_in([(29_000, 32_000)]), **_unseen([(29_000, 32_000)])},
    ),
    Sample(
        "black_disclosure",
        "the customer's picture black 10-18 s, in the disclosure",
        Script(kiosk_black=[(10_000, 18_000)]),
        {"kiosk_picture": steps_in([(10_000, 18_000)]), **_unseen([(10_000, 18_000)])},
    ),
    Sample(
        "fast_450",
        "the disclosure read at 450 words a minute",
        Script(disclosure_wpm=450),
        # Read in 9 s from 1 s: nobody is heard from 10 s to the customer at 26 s.
        {"disclosure_read": frozenset({DISCLOSURE}), "silence": frozenset({DISCLOSURE})},
    ),
    Sample(
        "fast_300",
        "the disclosure read at 300 words a minute",
        Script(disclosure_wpm=300),
        # Read in 14 s: 11 s of silence before the customer speaks, under the 15 s limit.
        {"disclosure_read": frozenset({DISCLOSURE})},
    ),
    Sample(
        "customer_silent",
        "the customer never speaks (no confirmation)",
        Script(customer_speaks=False),
        {"kiosk_audio": frozenset({PART}), CONFIRMATION: frozenset({DISCLOSURE})},
    ),
    _said("refusal_en", "the customer refuses", "No, I do not agree to this.", "en-us", ok=False),
    _said(
        "other_en",
        "the customer says something else",
        "Could you tell me when the branch closes today?",
        "en-us",
        ok=False,
    ),
    _said(
        "confirm_zh",
        "the customer confirms in Mandarin",
        "本人已阅读并理解风险揭示",
        MANDARIN,
        ok=True,
    ),
    _said("refusal_zh", "the customer refuses in Mandarin", "不，我不同意。", MANDARIN, ok=False),
    _said(
        "other_zh",
        "the customer says something else in Mandarin",
        "请问银行几点关门？",
        MANDARIN,
        ok=False,
    ),
    Sample(
        "id_same",
        "the customer is the ID photo's (framed otherwise)",
        Script(id_photo="same"),
    ),
    Sample(
        "id_other",
        "the ID photo is another person's",
        Script(id_photo="other"),
        {"customer_identity": frozenset({PART})},
    ),
    Sample(
        "no_spoken_confirmation",
        "the confirmation's evidence record withheld",
        Script(withhold=frozenset({"spoken_confirmation"})),
        {"evidence": frozenset({DISCLOSURE})},
    ),
    Sample(
        "no_tick",
        "the cooling-off tick withheld",
        Script(withhold=frozenset({"tick_confirmation"})),
        {"evidence": frozenset({COOLING_OFF})},
    ),
    Sample(
        "blank_signature",
        "a blank signature",
        Script(blank_signature=True),
        {"signature": frozenset({SIGNATURE})},
    ),
)


def by_name(names: list[str]) -> list[Sample]:
    """The samples named, in the set's order (all of them for an empty list)."""
    unknown = set(names) - {s.name for s in SAMPLES}
    if unknown:
        raise ValueError(f"no sample named {', '.join(sorted(unknown))}")
    return [s for s in SAMPLES if not names or s.name in names]
