"""The accuracy benchmark's counting: outcomes per check and place, and the confusion table."""

from __future__ import annotations

from pathlib import Path

from bench.accuracy import confusion, not_made, outcomes
from bench.accuracy_set import (
    CONFIRMATION,
    COOLING_OFF,
    DISCLOSURE,
    NO_MANDARIN_MODEL,
    PART,
    Sample,
    by_name,
    steps_in,
)
from bench.constructed import STEPS, Script
from bench.inspection_accuracy import evaluate
from inspection import Check, InspectionReport, Model, StepReport, Verdict

RULE = Model("test-rule", "1")


def _check(name: str, verdict: Verdict) -> Check:
    return Check(name, verdict, 1.0 if verdict is Verdict.PASS else 0.0, RULE, "")


def _report(part: list[Check], steps: dict[str, list[Check]]) -> InspectionReport:
    return InspectionReport(
        session_id="s",
        part=1,
        flow="wealth_purchase",
        inspected_at="2026-12-02T00:00:00+00:00",
        duration_s=37.0,
        steps=tuple(StepReport(name, 0, 1, tuple(checks)) for name, checks in steps.items()),
        checks=tuple(part),
    )


def test_each_check_and_place_is_counted_once_against_the_label() -> None:
    sample = Sample(
        "s1",
        "",
        Script(),
        {
            "customer_face": frozenset({DISCLOSURE}),
            "kiosk_audio": frozenset({PART}),
            # Labelled where the report made no such check: a miss.
            "signature": frozenset({COOLING_OFF}),
        },
    )
    report = _report(
        [_check("kiosk_audio", Verdict.PASS), _check("agent_audio", Verdict.FAIL)],
        {
            DISCLOSURE: [
                _check("customer_face", Verdict.NEEDS_REVIEW),
                _check("second_face", Verdict.PASS),
            ],
            COOLING_OFF: [
                _check("customer_face", Verdict.FAIL),
                _check("second_face", Verdict.PASS),
            ],
        },
    )
    found = outcomes(sample, report)
    assert len(found) == 7
    table = confusion(found)
    face = table["customer_face"]
    assert (face.tp, face.fp, face.fn, face.tn) == (1, 1, 0, 0)
    assert face.precision == 0.5 and face.recall == 1.0
    assert face.false_alarms == ["s1 @ cooling_off (fail)"]
    audio = table["kiosk_audio"]
    assert (audio.tp, audio.fp, audio.fn, audio.tn) == (0, 0, 1, 0)
    assert audio.missed == ["s1 @ part (pass)"] and audio.recall == 0.0
    assert audio.precision is None
    assert table["agent_audio"].fp == 1
    second = table["second_face"]
    assert (second.tp, second.fp, second.fn, second.tn) == (0, 0, 0, 2)
    signature = table["signature"]
    assert signature.fn == 1 and signature.missed == ["s1 @ cooling_off (not made)"]
    # A check made nowhere in the set is reported as not made, and left out when asked.
    assert not_made(found) == ["signature"]
    assert "signature" not in confusion(found, not_made(found))


def test_a_needs_review_that_cannot_be_judged_is_counted_apart() -> None:
    said = Sample(
        "zh",
        "",
        Script(customer_says="不，我不同意。", customer_voice="cmn-latn-pinyin"),
        {CONFIRMATION: frozenset({DISCLOSURE})},
        language="zh-CN",
        unjudged={CONFIRMATION: NO_MANDARIN_MODEL},
    )
    left = confusion(
        outcomes(said, _report([], {DISCLOSURE: [_check(CONFIRMATION, Verdict.NEEDS_REVIEW)]}))
    )[CONFIRMATION]
    assert (left.tp, left.fp, left.fn, left.tn, left.not_judged) == (0, 0, 0, 0, 1)
    assert left.unjudged_why == {NO_MANDARIN_MODEL}
    # Judged after all (a pass): counted as usual, here a miss.
    passed = confusion(
        outcomes(said, _report([], {DISCLOSURE: [_check(CONFIRMATION, Verdict.PASS)]}))
    )[CONFIRMATION]
    assert (passed.fn, passed.not_judged) == (1, 0)


def test_labels_follow_the_constructed_steps() -> None:
    names = [name for name, _, _ in STEPS]
    assert steps_in([(8_000, 16_000)]) == {DISCLOSURE}
    assert steps_in([(29_000, 32_000)]) == {COOLING_OFF}
    assert steps_in([(0, 37_000)]) == set(names)


def test_the_benchmark_counts_a_small_real_set(tmp_path: Path) -> None:
    samples = by_name(["clean", "face_leaves"])
    evaluation = evaluate(samples, tmp_path)
    assert [m.sample.name for m in evaluation.measured] == ["clean", "face_leaves"]
    table = evaluation.table
    steps = len(STEPS)
    # The customer away 8-16 s: found in the disclosure step, nowhere else, in neither part.
    for name in ("customer_face", "customer_left_picture"):
        counts = table[name]
        assert (counts.tp, counts.fp, counts.fn, counts.tn) == (1, 0, 0, 2 * steps - 1)
        assert counts.precision == counts.recall == 1.0
    for name, counts in table.items():
        made = sum(1 for m in evaluation.measured for o in m.outcomes if o.check == name)
        assert counts.tp + counts.fp + counts.fn + counts.tn + counts.not_judged == made
        if name not in ("customer_face", "customer_left_picture"):
            assert counts.tp == counts.fp == counts.fn == 0, (name, counts)
    assert table["kiosk_audio"].tn == 2 and table["evidence"].tn == 2 * steps
