"""Matching what the customer said against the confirmation phrase: words, pinyin, refusals."""

from __future__ import annotations

import pytest

from inspection.confirmation import Heard, match, refusal_in, share_in_order, tokens

PHRASE_EN = "I have read and understood the risks"
PHRASE_ZH = "本人已阅读并理解风险揭示"


def test_english_words_are_normalised() -> None:
    assert tokens("I don't agree. I've READ it!", "en") == [
        "i",
        "do",
        "not",
        "agree",
        "i",
        "have",
        "read",
        "it",
    ]


def test_the_english_phrase_is_matched_by_its_words_in_order() -> None:
    assert match("yes i have read and understood the risks", PHRASE_EN, "en").heard is Heard.PHRASE
    assert share_in_order(tokens(PHRASE_EN, "en"), tokens("risks the understood", "en")) < 0.3
    partial = match("i have read the risks", PHRASE_EN, "en")
    assert partial.heard is Heard.PARTIAL and partial.share == pytest.approx(5 / 7)
    assert match("when does the branch close", PHRASE_EN, "en").heard is Heard.OTHER
    assert match("", PHRASE_EN, "en").heard is Heard.NOTHING


@pytest.mark.parametrize(
    "said", ["No.", "I refuse", "I don't agree", "no i do not agree to this", "I disagree"]
)
def test_english_refusals_are_refusals(said: str) -> None:
    found = match(said, PHRASE_EN, "en")
    assert found.heard is Heard.REFUSAL and found.refusal is not None


def test_a_phrase_with_no_in_it_is_not_taken_for_a_refusal_word_inside_a_word() -> None:
    assert refusal_in("I know the risks", "en") is None
    assert refusal_in("nothing to add", "en") is None


def test_mandarin_homophones_match_by_pinyin() -> None:
    assert tokens(PHRASE_ZH, "zh-CN")[:3] == ["ben", "ren", "yi"]
    found = match("本人一阅读并理解风险接视", PHRASE_ZH, "zh-CN")
    assert found.heard is Heard.PHRASE and found.share == 1.0
    assert match("本人阅读风险", PHRASE_ZH, "zh-CN").heard is Heard.PARTIAL
    assert match("请问银行几点关门", PHRASE_ZH, "zh-CN").heard is Heard.OTHER


@pytest.mark.parametrize("said", ["不，我不同意。", "我拒绝", "不是本人", "我不愿意"])
def test_mandarin_refusals_are_refusals(said: str) -> None:
    assert match(said, PHRASE_ZH, "zh-CN").heard is Heard.REFUSAL


def test_the_phrase_beside_a_refusal_keeps_both() -> None:
    found = match("no no i have read and understood the risks", PHRASE_EN, "en")
    assert found.heard is Heard.PHRASE and found.refusal == "no"
