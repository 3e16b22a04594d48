"""Loading flow files: a minimal and a full flow, directories, and the packaged flows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflow.flow_documents import (
    minimal_flow,
    step_table,
    text,
    write_flow,
)
from workflow import (
    ABORTED_STEP,
    EFFECTS,
    EVIDENCE_TYPES,
    FLOWS_DIR,
    GUARDS,
    FlowDefinitionError,
    UnknownFlow,
    get_flow,
    load_flow,
    load_flows,
)


def test_minimal_flow_loads(tmp_path: Path) -> None:
    flow = load_flow(write_flow(tmp_path, minimal_flow()))
    assert flow.name == "tiny"
    assert flow.initial == "start"
    assert list(flow.steps) == ["start", "done", ABORTED_STEP]
    assert flow.events_from("start") == ("go", "abort")
    assert flow.events_from("done") == ()
    assert flow.step(ABORTED_STEP).terminal
    assert flow.step("start").timeout_s == 60


def test_full_step_loads(tmp_path: Path) -> None:
    document = minimal_flow()
    document["steps"]["start"] = step_table(
        "Start",
        initial=True,
        collects=["product_risk"],
        may_collect=["risk_level", "assessment_date"],
        questions=["age", "horizon"],
        documents=[{"id": "terms", "title": text("Terms")}],
        tts=text("Please listen"),
        confirmation_phrase=text("I agree"),
        evidence=["questionnaire_answers", "document_acknowledged", "spoken_confirmation"],
        transitions={
            "go": {"to": "done", "guard": "product_suitable", "effect": "record_suitability"},
            "skip": "done",
        },
    )
    flow = load_flow(write_flow(tmp_path, document))
    step = flow.step("start")
    assert step.transitions == {"go": "done", "skip": "done", "abort": ABORTED_STEP}
    assert step.guards == {"go": "product_suitable"}
    assert step.effects == {"go": "record_suitability"}
    assert step.collects == ("product_risk",)
    assert step.may_collect == ("risk_level", "assessment_date")
    assert step.questions == ("age", "horizon")
    assert [(d.id, d.title["en"]) for d in step.documents] == [("terms", "Terms")]
    assert step.tts is not None and step.tts["zh-CN"] == "Please listen（中文）"
    assert step.confirmation_phrase is not None and step.confirmation_phrase["en"] == "I agree"
    assert flow.questionnaire is not None and "loss_tolerance" in flow.questionnaire.question_ids
    assert load_flow(write_flow(tmp_path, minimal_flow())).questionnaire is None


def test_load_flows_finds_card_opening() -> None:
    flows = load_flows()
    assert "card_opening" in flows
    assert flows == load_flows(FLOWS_DIR)
    assert get_flow(flows, "card_opening") is flows["card_opening"]


def test_load_flows_reads_a_directory(tmp_path: Path) -> None:
    write_flow(tmp_path, minimal_flow())
    (tmp_path / "_shared.toml").write_text("not = 'a flow'\n", encoding="utf-8")
    other = minimal_flow()
    other["name"] = "other"
    write_flow(tmp_path, other, stem="other")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    assert sorted(load_flows(tmp_path)) == ["other", "tiny"]


def test_load_flows_refuses_a_bad_file(tmp_path: Path) -> None:
    write_flow(tmp_path, minimal_flow())
    bad = minimal_flow()
    del bad["steps"]["start"]["initial"]
    bad["name"] = "bad"
    path = write_flow(tmp_path, bad, stem="bad")
    with pytest.raises(FlowDefinitionError) as caught:
        load_flows(tmp_path)
    assert caught.value.path == path


def test_load_flows_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        load_flows(tmp_path / "missing")


def test_unknown_flow() -> None:
    known = "card_opening, corporate_account_verification, loan_review, risk_assessment, "
    with pytest.raises(
        UnknownFlow, match=rf'unknown flow "loan" \(known: {known}wealth_purchase\)'
    ) as caught:
        get_flow(load_flows(), "loan")
    assert isinstance(caught.value, LookupError)
    assert caught.value.name == "loan"


def test_packaged_flows_use_only_registered_guards_and_evidence() -> None:
    for flow in load_flows().values():
        for step in flow.steps.values():
            assert set(step.guards.values()) <= set(GUARDS)
            assert set(step.effects.values()) <= set(EFFECTS)
            assert set(step.evidence) <= EVIDENCE_TYPES
