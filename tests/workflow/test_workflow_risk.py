"""The risk questionnaire: scoring and its level boundaries, validity, suitability, its file."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from workflow import (
    PRODUCT_RISKS,
    RISK_LEVELS,
    FlowDefinitionError,
    InvalidAnswers,
    Questionnaire,
    assessment_expiry,
    assessment_valid,
    default_questionnaire,
    load_questionnaire,
    score,
    suitable,
)
from workflow.risk import QUESTIONNAIRE_PATH

Q = default_questionnaire()


def _answers_totalling(total: int, questionnaire: Questionnaire = Q) -> dict[str, str]:
    """Answers (never the capping options) whose scores add up to exactly `total`."""
    choices = [
        [option for option in question.options if option.max_level is None]
        for question in questionnaire.questions
    ]

    def search(index: int, remaining: int) -> list[str] | None:
        if index == len(choices):
            return [] if remaining == 0 else None
        for option in choices[index]:
            if option.score <= remaining:
                rest = search(index + 1, remaining - option.score)
                if rest is not None:
                    return [option.id, *rest]
        return None

    found = search(0, total)
    assert found is not None, f"no answers add up to {total}"
    return dict(zip(questionnaire.question_ids, found, strict=True))


def test_questionnaire_has_ten_questions_in_both_languages() -> None:
    assert len(Q.questions) == 10
    assert [level.level for level in Q.levels] == list(RISK_LEVELS)
    for question in Q.questions:
        assert question.text["zh-CN"] and question.text["en"]
        assert len(question.options) >= 3
        for option in question.options:
            assert option.text["zh-CN"] and option.text["en"]


@pytest.mark.parametrize(
    ("total", "level"),
    [
        (15, "C1"),
        (20, "C1"),
        (21, "C2"),
        (40, "C2"),
        (41, "C3"),
        (60, "C3"),
        (61, "C4"),
        (80, "C4"),
        (81, "C5"),
        (100, "C5"),
    ],
)
def test_scoring_boundaries(total: int, level: str) -> None:
    answers = _answers_totalling(total)
    assert score(answers) == (total, level)
    assert Q.level_for(total) == level


def test_lowest_and_highest_scores() -> None:
    lowest = {q.id: min(q.options, key=lambda o: o.score).id for q in Q.questions}
    highest = {q.id: max(q.options, key=lambda o: o.score).id for q in Q.questions}
    assert score(lowest) == (12, "C1")
    assert score(highest) == (100, "C5")


def test_no_loss_tolerance_caps_the_level_at_c1() -> None:
    answers = {q.id: max(q.options, key=lambda o: o.score).id for q in Q.questions}
    answers["loss_tolerance"] = "a"
    assert score(answers) == (91, "C1")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"shoe_size": "a"}, 'unknown question "shoe_size"'),
        ({"age": "z"}, "question \"age\" has no option 'z'"),
        ({"age": 1}, 'question "age" has no option 1'),
    ],
)
def test_invalid_answers(change: dict[str, object], problem: str) -> None:
    answers: dict[str, object] = {**_answers_totalling(50), **change}
    with pytest.raises(InvalidAnswers, match=problem):
        score(answers)


def test_incomplete_answers() -> None:
    answers = _answers_totalling(50)
    del answers["horizon"], answers["debt"]
    with pytest.raises(InvalidAnswers, match="unanswered questions: debt, horizon"):
        score(answers)
    assert Q.missing(answers) == ("debt", "horizon")


@pytest.mark.parametrize(
    ("assessed", "today", "valid"),
    [
        (date(2025, 6, 15), date(2025, 6, 15), True),
        (date(2024, 6, 16), date(2025, 6, 15), True),
        (date(2024, 6, 15), date(2025, 6, 15), False),
        (date(2024, 2, 29), date(2025, 2, 28), True),
        (date(2024, 2, 29), date(2025, 3, 1), False),
        (date(2025, 6, 16), date(2025, 6, 15), False),  # dated in the future
    ],
)
def test_assessment_valid_for_one_year(assessed: date, today: date, valid: bool) -> None:
    assert assessment_valid(assessed, today) is valid
    now = datetime(today.year, today.month, today.day, 23, 59, tzinfo=UTC)
    assert assessment_valid(assessed, now) is valid


def test_assessment_expiry() -> None:
    assert assessment_expiry(date(2025, 1, 10)) == date(2026, 1, 10)
    assert assessment_expiry(date(2024, 2, 29)) == date(2025, 3, 1)


def test_suitability_matrix() -> None:
    for (n, level), (m, risk) in itertools.product(
        enumerate(RISK_LEVELS), enumerate(PRODUCT_RISKS)
    ):
        assert suitable(level, risk) is (m <= n), (level, risk)


def test_suitability_refuses_unknown_ratings() -> None:
    with pytest.raises(ValueError, match='unknown customer risk level "C6"'):
        suitable("C6", "R1")
    with pytest.raises(ValueError, match='unknown product risk rating "R0"'):
        suitable("C1", "R0")


def test_packaged_file_loads_again() -> None:
    assert load_questionnaire(QUESTIONNAIRE_PATH) == Q


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('level = "C3"', 'level = "C9"', "levels must be C1, C2, C3, C4, C5 in that order"),
        ("max_score = 60", "max_score = 10", "level max_score values must increase"),
        ("max_score = 100", "max_score = 90", "the top level must reach the highest total"),
        ('max_level = "C1"', 'max_level = "C7"', "max_level must be one of"),
        ("score = 8,", "score = -8,", "score must be a whole number >= 0"),
        ('id = "debt"', 'id = "age"', "distinct ids"),
        (
            'name = "risk_tolerance"',
            'name = "risk_tolerance"\ncolour = "red"',
            'unknown key "colour"',
        ),
        (
            'title = { zh-CN = "客户风险承受能力评估问卷", ',
            "title = { ",
            'title: missing "zh-CN" text',
        ),
    ],
)
def test_malformed_questionnaire(tmp_path: Path, old: str, new: str, problem: str) -> None:
    source = QUESTIONNAIRE_PATH.read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / "_q.toml"
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(FlowDefinitionError) as caught:
        load_questionnaire(path)
    assert caught.value.path == path
    assert problem in caught.value.problem
