"""Every packaged flow end to end with its facts and evidence, and every step's refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.workflow.paths import (
    AFTER_SUITABLE,
    FLOWS,
    GOOD_ID,
    IDENTITY,
    NOW,
    PATHS,
    PRODUCT,
    QUESTIONNAIRE,
    Path_,
    evidence,
    walk,
)
from workflow import (
    ABORT_EVENT,
    ABORTED_STEP,
    ClockRequired,
    FlowContext,
    InvalidData,
    MissingData,
    MissingEvidence,
    StepRefused,
    WorkflowError,
    advance,
    collect,
)
from workflow.identity import id_check_digit

CONSENT = ("consent", "consent_given", evidence("consent", "tick_confirmation"))


def test_packaged_flows() -> None:
    assert sorted(FLOWS) == sorted(PATHS)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_whole_path(name: str) -> None:
    path, end = PATHS[name]
    state, context, taken = walk(name, path)
    assert state == end
    assert [t.terminal for t in taken] == [False] * (len(path) - 1) + [True]
    flow = FLOWS[name]
    for (step, _, data), transition in zip(path, taken, strict=True):
        assert transition.data == data
        # Every piece of evidence a step requires is recorded under that step.
        assert set(context.evidence(step)) == set(flow.step(step).evidence)
    assert context["id_number"] == GOOD_ID
    assert context["name"] == "张三"


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_has_texts_and_a_timeout(name: str) -> None:
    for step in FLOWS[name].steps.values():
        for language in ("zh-CN", "en"):
            assert step.title[language] and step.script[language] and step.prompt[language]
        assert (step.timeout_s is None) == step.terminal


@pytest.mark.parametrize("name", sorted(PATHS))
def test_no_step_without_its_evidence(name: str) -> None:
    """Each forward event is refused while any one of its step's evidence is missing."""
    path, _ = PATHS[name]
    flow = FLOWS[name]
    checked = 0
    for index, (state, event, data) in enumerate(path):
        _, context, _ = walk(name, path[:index])
        for kind in flow.step(state).evidence:
            partial = {**data, "evidence": {k: v for k, v in data["evidence"].items() if k != kind}}
            with pytest.raises(MissingEvidence) as caught:
                advance(flow, state, event, data=partial, context=context, now=NOW)
            assert caught.value.missing == (kind,)
            assert (caught.value.state, caught.value.event) == (state, event)
            assert f'step "{state}"' in str(caught.value) and kind in str(caught.value)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("name", ["card_opening", "wealth_purchase", "loan_review"])
def test_no_completion_without_signature(name: str) -> None:
    path, end = PATHS[name]
    _, context, _ = walk(name, path[:-1])
    state, event, _ = path[-1]
    assert state == "signature"
    with pytest.raises(MissingEvidence) as caught:
        advance(FLOWS[name], state, event, data={}, context=context, now=NOW)
    assert caught.value.missing == ("signature_image",)
    assert str(caught.value) == (
        f'event "signature_captured" is refused in step "signature" of flow "{name}": '
        "missing evidence: signature_image"
    )
    # Evidence merged earlier (collect) counts, as does evidence in the event itself.
    final = advance(FLOWS[name], state, event, data=path[-1][2], context=context, now=NOW)
    assert final.target == end and final.terminal


@pytest.mark.parametrize("name", sorted(PATHS))
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("11010519491231002Y", "the last character must be a digit or X"),
        ("110105194912310021", "wrong check digit"),
        ("110105194902300028", "the birth date is not a calendar date"),
        ("11010519491231002", "must be 18 characters, not 17"),
        ("1101051949123100201", "must be 18 characters, not 19"),
        ("990105194912310021", "unknown region code"),
    ],
)
def test_bad_id_number_rejected(name: str, bad: str, problem: str) -> None:
    flow = FLOWS[name]
    data = {**IDENTITY[2], "id_number": bad}
    with pytest.raises(StepRefused) as caught:
        advance(flow, "identity_check", "identity_verified", data=data, context={}, now=NOW)
    error = caught.value
    assert getattr(error, "guard", None) == "id_number_valid"
    assert problem in str(error)
    assert 'step "identity_check"' in str(error) and 'event "identity_verified"' in str(error)
    assert bad[:10] not in str(error)  # masked: only the last four characters are shown


def test_birth_date_in_the_future_is_rejected() -> None:
    future = "110105" + (NOW + timedelta(days=400)).strftime("%Y%m%d") + "001"
    data = {**IDENTITY[2], "id_number": future + id_check_digit(future)}
    with pytest.raises(StepRefused, match="the birth date is out of range"):
        advance(
            FLOWS["card_opening"],
            "identity_check",
            "identity_verified",
            data=data,
            context={},
            now=NOW,
        )


def test_missing_fact_is_refused() -> None:
    data = evidence("id_photo", id_number=GOOD_ID)
    with pytest.raises(MissingData) as caught:
        advance(FLOWS["card_opening"], "identity_check", "identity_verified", data=data, context={})
    assert caught.value.key == "name"
    assert 'data "name": missing' in str(caught.value)


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ({"colour": "blue"}, "colour", "not taken in this step"),
        ({"product_risk": "R9"}, "product_risk", "must be one of R1, R2, R3, R4, R5"),
        ({"purchase_amount": "-5"}, "purchase_amount", "must be at least 0.01"),
        ({"purchase_amount": "lots"}, "purchase_amount", "must be a decimal number"),
        ({"evidence": ["id_photo"]}, "evidence", "must be a table"),
        ({"evidence": {"signature_image": "x"}}, "evidence", '"signature_image" is not required'),
        ({"evidence": {}, "note": 5}, "note", "must be a string"),
    ],
)
def test_invalid_data_is_refused(data: dict[str, Any], key: str, problem: str) -> None:
    flow = FLOWS["wealth_purchase"]
    context = {"risk_level": "C3", "assessment_date": "2025-01-10"}
    with pytest.raises(InvalidData) as caught:
        advance(flow, "product_selection", "product_suitable", data=data, context=context, now=NOW)
    assert caught.value.key == key
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_evidence_needs_a_reference() -> None:
    with pytest.raises(InvalidData, match='"id_photo" needs a non-empty reference'):
        advance(
            FLOWS["card_opening"],
            "identity_check",
            "identity_verified",
            data={"id_number": GOOD_ID, "name": "张三", "evidence": {"id_photo": " "}},
            context={},
        )


def test_collect_merges_early_evidence() -> None:
    path, _ = PATHS["card_opening"]
    _, context, _ = walk("card_opening", path[:-1])
    flow = FLOWS["card_opening"]
    signed = collect(flow, "signature", context, evidence("signature_image"))
    assert signed.evidence("signature")["signature_image"] == "sha256:signature_image-0f3a"
    transition = advance(flow, "signature", "signature_captured", context=signed)
    assert transition.target == "completed"
    with pytest.raises(InvalidData):
        collect(flow, "signature", context, {"name": "李四"})


def test_note_is_kept_in_the_data_not_the_context() -> None:
    path, _ = PATHS["card_opening"]
    _, context, _ = walk("card_opening", path[:1])
    data = {**path[1][2], "note": "客户已口头同意"}
    transition = advance(
        FLOWS["card_opening"], "consent", "consent_given", data=data, context=context
    )
    assert transition.data["note"] == "客户已口头同意"
    assert "note" not in transition.context


@pytest.mark.parametrize("name", sorted(PATHS))
def test_abort_keeps_the_context(name: str) -> None:
    path, _ = PATHS[name]
    state, context, _ = walk(name, path[:2])
    transition = advance(FLOWS[name], state, ABORT_EVENT, reason="step timed out", context=context)
    assert transition.target == ABORTED_STEP and transition.terminal
    assert transition.context == context


def test_clock_required_for_time_guards() -> None:
    path, _ = PATHS["wealth_purchase"]
    state, context, _ = walk("wealth_purchase", path[:2])
    _, event, data = path[2]
    with pytest.raises(ClockRequired) as caught:
        advance(FLOWS["wealth_purchase"], state, event, data=data, context=context)
    assert caught.value.name == "assessment_valid"
    assert isinstance(caught.value, WorkflowError)


def test_legacy_calls_check_only_the_graph() -> None:
    flow = FLOWS["wealth_purchase"]
    transition = advance(flow, "signature", "signature_captured")
    assert transition.target == "purchase_confirmed"
    assert transition.context == FlowContext()


# -- the wealth-management purchase: assessment and suitability --------------------------

START: Path_ = [IDENTITY, CONSENT]


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"risk_level": "C4"},
        {"risk_level": "C4", "assessment_date": "2024-06-15"},  # a year ago today: expired
        {"risk_level": "C4", "assessment_date": "2023-02-01"},
    ],
    ids=["missing", "no-date", "expired-today", "long-expired"],
)
def test_missing_or_expired_assessment_forces_the_questionnaire(record: dict[str, str]) -> None:
    flow = FLOWS["wealth_purchase"]
    state, context, _ = walk("wealth_purchase", START)
    with pytest.raises(StepRefused) as caught:
        advance(flow, state, "assessment_valid", data=record, context=context, now=NOW)
    assert getattr(caught.value, "guard", None) == "assessment_valid"
    path: Path_ = [
        ("assessment_check", "assessment_needed", record),
        *QUESTIONNAIRE,
        (
            "assessment_result",
            "result_confirmed",
            evidence("spoken_confirmation", "tick_confirmation"),
        ),
        ("product_selection", "product_suitable", PRODUCT),
        *AFTER_SUITABLE,
    ]
    end, after, _ = walk("wealth_purchase", path, context, state=state)
    assert end == "purchase_confirmed"
    assert (after["risk_level"], after["risk_score"]) == ("C4", 74)
    assert after["assessment_date"] == "2025-06-15"
    assert after["assessment_expires"] == "2026-06-15"
    assert after["suitability"]["suitable"] is True


def test_valid_assessment_skips_the_questionnaire() -> None:
    flow = FLOWS["wealth_purchase"]
    state, context, _ = walk("wealth_purchase", START)
    record = {"risk_level": "C3", "assessment_date": "2024-06-16"}  # valid for one more day
    with pytest.raises(StepRefused) as caught:
        advance(flow, state, "assessment_needed", data=record, context=context, now=NOW)
    assert getattr(caught.value, "guard", None) == "assessment_missing_or_expired"
    assert "still valid until 2025-06-15" in str(caught.value)
    transition = advance(flow, state, "assessment_valid", data=record, context=context, now=NOW)
    assert transition.target == "product_selection"


@pytest.mark.parametrize(
    ("level", "risk"), [("C1", "R2"), ("C2", "R3"), ("C3", "R5"), ("C4", "R5")]
)
def test_unsuitable_product_is_refused_and_recorded(level: str, risk: str) -> None:
    flow = FLOWS["wealth_purchase"]
    record = {"risk_level": level, "assessment_date": "2025-01-10"}
    path: Path_ = [*START, ("assessment_check", "assessment_valid", record)]
    state, context, _ = walk("wealth_purchase", path)
    product = {**PRODUCT, "product_risk": risk}
    with pytest.raises(StepRefused) as caught:
        advance(flow, state, "product_suitable", data=product, context=context, now=NOW)
    assert getattr(caught.value, "guard", None) == "product_suitable"
    assert f"a {level} customer may not buy an {risk} product" in str(caught.value)
    refused = advance(flow, state, "product_refused", data=product, context=context, now=NOW)
    assert refused.target == "refused" and refused.terminal
    assert refused.context["suitability"] == {
        "risk_level": level,
        "product_code": PRODUCT["product_code"],
        "product_risk": risk,
        "suitable": False,
        "decided_on": "2025-06-15",
    }
    assert flow.step("refused").terminal


def test_suitable_product_cannot_be_refused() -> None:
    flow = FLOWS["wealth_purchase"]
    record = {"risk_level": "C3", "assessment_date": "2025-01-10"}
    state, context, _ = walk(
        "wealth_purchase", [*START, ("assessment_check", "assessment_valid", record)]
    )
    with pytest.raises(StepRefused, match="a C3 customer may buy an R2 product"):
        advance(flow, state, "product_refused", data=PRODUCT, context=context, now=NOW)


def test_questionnaire_must_be_complete() -> None:
    flow = FLOWS["risk_assessment"]
    state, context, _ = walk("risk_assessment", [*START, QUESTIONNAIRE[0]])
    _, event, data = QUESTIONNAIRE[1]
    partial = {**data, "answers": {k: v for k, v in data["answers"].items() if k != "horizon"}}
    with pytest.raises(InvalidData, match="unanswered: horizon"):
        advance(flow, state, event, data=partial, context=context, now=NOW)
    # Answers to another step's questions, or unknown options, are refused.
    for answers, problem in (
        ({**data["answers"], "age": "a"}, 'question "age" is not asked in this step'),
        ({**data["answers"], "horizon": "z"}, "question \"horizon\" has no option 'z'"),
    ):
        with pytest.raises(InvalidData, match=problem):
            advance(flow, state, event, data={**data, "answers": answers}, context=context, now=NOW)


def test_questionnaire_complete_guard() -> None:
    flow = FLOWS["risk_assessment"]
    # A context restored without the first part's answers: the guard names what is missing.
    state, context, _ = walk("risk_assessment", [*START, QUESTIONNAIRE[0]])
    bare = FlowContext({k: v for k, v in context.items() if k != "answers"})
    _, event, data = QUESTIONNAIRE[1]
    with pytest.raises(StepRefused) as caught:
        advance(flow, state, event, data=data, context=bare, now=NOW)
    assert getattr(caught.value, "guard", None) == "questionnaire_complete"
    assert "unanswered questions: age, annual_income" in str(caught.value)


def test_risk_disclosure_is_spoken_and_confirmed() -> None:
    step = FLOWS["wealth_purchase"].step("risk_disclosure")
    assert step.tts is not None and "理财非存款" in step.tts["zh-CN"]
    assert step.confirmation_phrase is not None
    assert step.confirmation_phrase["zh-CN"] == "本人已阅读并理解风险揭示"
    assert step.confirmation_phrase["en"] == "I have read and understood the risks"
    assert "spoken_confirmation" in step.evidence
    assert [d.id for d in step.documents] == ["risk_disclosure_statement", "product_description"]


def test_loan_terms_are_recorded() -> None:
    path, _ = PATHS["loan_review"]
    _, context, _ = walk("loan_review", path)
    assert {k: context[k] for k in ("loan_amount", "loan_rate", "loan_apr")} == {
        "loan_amount": "200000",
        "loan_rate": "3.85",
        "loan_apr": "3.92",
    }
    assert context["loan_term_months"] == 36
    assert FLOWS["loan_review"].step("terms_disclosure").tts is not None


def test_bad_credit_code_is_rejected() -> None:
    path, _ = PATHS["corporate_account_verification"]
    state, context, _ = walk("corporate_account_verification", path[:-1])
    _, event, data = path[-1]
    bad = {**data, "credit_code": "91440300708461136A"}
    with pytest.raises(StepRefused) as caught:
        advance(FLOWS["corporate_account_verification"], state, event, data=bad, context=context)
    assert getattr(caught.value, "guard", None) == "credit_code_valid"
    assert "wrong check character" in str(caught.value)
