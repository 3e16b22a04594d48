"""What the customer said against the step's confirmation phrase, and refusals.

The recogniser's text is compared with the phrase token by token: English by its
normalised words ("don't" is "do not"), Mandarin by its toneless pinyin syllables
(``pypinyin.lazy_pinyin``), so that a homophone the recogniser wrote with another
character (本人一阅读 for 本人已阅读) still counts. The phrase is matched by the share of
its tokens heard in order; a refusal by all its tokens heard one after the other.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pypinyin import lazy_pinyin

from common import Language

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CONTRACTIONS = {
    "n't": " not",
    "'ve": " have",
    "'m": " am",
    "'re": " are",
    "'ll": " will",
    "'d": " would",
}
_IRREGULAR = {"won't": "will not", "can't": "can not", "cannot": "can not", "shan't": "shall not"}

#: What a customer says to refuse, per language (matched as tokens, in order).
REFUSALS: dict[str, tuple[str, ...]] = {
    Language.EN.value: (
        "no",
        "I refuse",
        "I do not agree",
        "I don't agree",
        "I disagree",
        "I do not accept",
        "I do not confirm",
        "I decline",
    ),
    Language.ZH_CN.value: (
        "不同意",
        "不是",
        "拒绝",
        "不愿意",
        "不接受",
        "不确认",
        "不要",
        "不行",
        "没有",
    ),
}


class Heard(StrEnum):
    """What the customer's speech was found to be."""

    PHRASE = "phrase"
    PARTIAL = "partial"
    REFUSAL = "refusal"
    OTHER = "other"
    NOTHING = "nothing"


@dataclass(frozen=True)
class MatchLimits:
    """How much of the phrase must be heard."""

    #: This share of the phrase's tokens heard in order passes.
    pass_share: float = 0.8
    #: From this share (and below ``pass_share``) a person listens.
    review_share: float = 0.5


@dataclass(frozen=True)
class Match:
    """One text against the phrase: the share of it heard, and any refusal."""

    heard: Heard
    share: float
    refusal: str | None = None


def tokens(text: str, language: str) -> list[str]:
    """The text as the tokens compared: pinyin syllables (zh-CN) or normalised words."""
    if language == Language.ZH_CN.value:
        return [s for s in lazy_pinyin(text, errors="ignore") if s.isalpha()]
    lowered = text.lower().replace("’", "'")
    for word, spelled in _IRREGULAR.items():
        lowered = re.sub(rf"\b{word}\b", spelled, lowered)
    for ending, spelled in _CONTRACTIONS.items():
        lowered = lowered.replace(ending, spelled)
    return _WORD.findall(lowered)


def share_in_order(phrase: Sequence[str], heard: Sequence[str]) -> float:
    """The share of ``phrase``'s tokens found in ``heard`` in the same order (0 to 1)."""
    if not phrase:
        return 0.0
    matcher = difflib.SequenceMatcher(None, list(phrase), list(heard), autojunk=False)
    found = sum(block.size for block in matcher.get_matching_blocks())
    return found / len(phrase)


def _contains(heard: Sequence[str], part: Sequence[str]) -> bool:
    size = len(part)
    return size > 0 and any(
        list(heard[i : i + size]) == list(part) for i in range(len(heard) - size + 1)
    )


def refusal_in(text: str, language: str) -> str | None:
    """The first refusal of the language heard in ``text``, or None."""
    heard = tokens(text, language)
    for refusal in REFUSALS.get(language, ()):
        if _contains(heard, tokens(refusal, language)):
            return refusal
    return None


def match(text: str, phrase: str, language: str, limits: MatchLimits | None = None) -> Match:
    """What ``text`` (one recognised utterance) is, against the step's ``phrase``."""
    limits = limits or MatchLimits()
    heard = tokens(text, language)
    if not heard:
        return Match(Heard.NOTHING, 0.0)
    share = share_in_order(tokens(phrase, language), heard)
    refusal = refusal_in(text, language)
    if refusal is not None and share < limits.pass_share:
        return Match(Heard.REFUSAL, share, refusal)
    if share >= limits.pass_share:
        return Match(Heard.PHRASE, share, refusal)
    if share >= limits.review_share:
        return Match(Heard.PARTIAL, share)
    return Match(Heard.OTHER, share)
