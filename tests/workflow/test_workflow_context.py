"""The session context: immutable, validated, stored as JSON and restored after a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.workflow.paths import FLOWS, NOW, PATHS, restart, walk
from workflow import FlowContext, InvalidContext, WorkflowError, advance, deadline, expired


def test_context_round_trips_through_json() -> None:
    path, _ = PATHS["wealth_purchase"]
    _, context, _ = walk("wealth_purchase", path)
    stored = json.dumps(context.to_dict(), ensure_ascii=False)
    assert FlowContext(json.loads(stored)) == context
    assert restart(context) == context


@pytest.mark.parametrize("name", sorted(PATHS))
def test_session_resumes_at_the_same_step_after_a_restart(name: str) -> None:
    """Stop after each step, keep only (state, stored JSON), and finish from there."""
    path, end = PATHS[name]
    for stop in range(1, len(path)):
        state, context, _ = walk(name, path[:stop])
        stored_state, stored = state, json.dumps(context.to_dict())
        resumed, _, _ = walk(name, path[stop:], json.loads(stored), state=stored_state)
        assert resumed == end


def test_context_is_immutable() -> None:
    context = FlowContext({"name": "张三", "evidence": {"signature": {"signature_image": "r"}}})
    with pytest.raises(TypeError):
        context["name"] = "李四"  # type: ignore[index]
    with pytest.raises(TypeError):
        context["evidence"]["signature"]["signature_image"] = "other"
    plain = context.to_dict()
    plain["name"] = "李四"
    assert context["name"] == "张三"


def test_updated_merges_evidence_and_answers() -> None:
    context = FlowContext().updated(
        {"name": "张三"}, step="a", evidence={"id_photo": "r1"}, answers={"age": "a"}
    )
    later = context.updated(step="a", evidence={"consent": "r2"}, answers={"debt": "b"})
    assert later.evidence("a") == {"id_photo": "r1", "consent": "r2"}
    assert later.answers() == {"age": "a", "debt": "b"}
    assert context.evidence("a") == {"id_photo": "r1"}
    assert later.evidence("b") == {}


@pytest.mark.parametrize(
    ("stored", "key", "problem"),
    [
        ({"shoe_size": 42}, "shoe_size", "not a known fact"),
        ({"risk_level": "C9"}, "risk_level", "must be one of C1"),
        ({"assessment_date": "15/06/2025"}, "assessment_date", "must be a date as YYYY-MM-DD"),
        ({"evidence": {"a": {"id_photo": ""}}}, "evidence", "non-empty strings"),
        ({"answers": ["a"]}, "answers", "must be a table"),
        ({"loan_term_months": 0}, "loan_term_months", "from 1 to 360"),
    ],
)
def test_invalid_stored_context(stored: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(InvalidContext) as caught:
        FlowContext(stored)
    assert caught.value.key == key
    assert problem in str(caught.value)
    assert isinstance(caught.value, WorkflowError)


def test_decimal_facts_are_normalised() -> None:
    context = FlowContext({"purchase_amount": 50000, "loan_rate": 3.85, "loan_amount": "1e5"})
    assert context.to_dict() == {
        "purchase_amount": "50000",
        "loan_rate": "3.85",
        "loan_amount": "100000",
    }


def test_step_timeouts() -> None:
    step = FLOWS["card_opening"].step("identity_check")
    entered = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)
    assert step.timeout_s == 300
    assert deadline(step, entered) == entered + timedelta(seconds=300)
    assert not expired(step, entered, entered + timedelta(seconds=299))
    assert expired(step, entered, entered + timedelta(seconds=300))
    done = FLOWS["card_opening"].step("completed")
    assert deadline(done, entered) is None
    assert not expired(done, entered, entered + timedelta(days=365))


def test_timed_out_step_is_aborted_with_its_reason() -> None:
    flow = FLOWS["card_opening"]
    step = flow.step(flow.initial)
    entered = NOW - timedelta(seconds=301)
    assert expired(step, entered, NOW)
    transition = advance(flow, step.name, "abort", reason="timeout: identity_check", context={})
    assert transition.target == "aborted" and transition.reason == "timeout: identity_check"
