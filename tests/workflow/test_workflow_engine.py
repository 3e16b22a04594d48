"""The card-opening flow driven through advance(): the whole path, refusals and aborts."""

from __future__ import annotations

import pytest

from workflow import (
    ABORT_EVENT,
    ABORTED_STEP,
    Flow,
    FlowFinished,
    MissingAbortReason,
    Step,
    Text,
    Transition,
    TransitionNotAllowed,
    UnknownStep,
    WorkflowError,
    advance,
    load_flows,
)

FLOW = load_flows()["card_opening"]
PATH = [
    ("identity_check", "identity_verified"),
    ("consent", "consent_given"),
    ("terms_disclosure", "terms_disclosed"),
    ("confirmation", "customer_confirmed"),
    ("signature", "signature_captured"),
]
ACTIVE = [name for name, step in FLOW.steps.items() if not step.terminal]
TERMINAL = [name for name, step in FLOW.steps.items() if step.terminal]
# Every event the flow knows, plus one it does not.
EVENTS = sorted({event for step in FLOW.steps.values() for event in step.transitions} | {"sign"})
REFUSED = [
    (state, event) for state in ACTIVE for event in EVENTS if event not in FLOW.events_from(state)
]


def test_card_opening_whole_path() -> None:
    state = FLOW.initial
    taken: list[Transition] = []
    for expected_state, event in PATH:
        assert state == expected_state
        transition = advance(FLOW, state, event, data={"evidence": list(FLOW.step(state).evidence)})
        assert transition.source == state
        assert transition.event == event
        assert transition.reason is None
        taken.append(transition)
        state = transition.target
    assert state == "completed"
    assert [t.terminal for t in taken] == [False] * 4 + [True]
    assert taken[0].data == {"evidence": ["id_photo"]}


def test_card_opening_steps_and_evidence() -> None:
    assert list(FLOW.steps) == [*(s for s, _ in PATH), "completed", ABORTED_STEP]
    assert FLOW.step("consent").evidence == ("consent", "tick_confirmation")
    assert FLOW.step("signature").evidence == ("signature_image",)
    for step in FLOW.steps.values():
        for language in ("zh-CN", "en"):
            assert step.title[language] and step.script[language] and step.prompt[language]
        assert (step.timeout_s is None) == step.terminal


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_illegal_event_is_refused(state: str, event: str) -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        advance(FLOW, state, event)
    error = caught.value
    assert (error.flow, error.state, error.event) == ("card_opening", state, event)
    assert not isinstance(error, FlowFinished)
    assert f'event "{event}"' in str(error)
    assert f'step "{state}"' in str(error)
    assert error.allowed == FLOW.events_from(state)


def test_illegal_event_message() -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        advance(FLOW, "terms_disclosure", "sign")
    assert str(caught.value) == (
        'event "sign" is not allowed in step "terms_disclosure" of flow "card_opening" '
        "(allowed: terms_disclosed, abort)"
    )


@pytest.mark.parametrize("state", ACTIVE)
def test_abort_with_reason(state: str) -> None:
    transition = advance(FLOW, state, ABORT_EVENT, reason="customer left the call")
    assert transition == Transition(
        event=ABORT_EVENT,
        source=state,
        target=ABORTED_STEP,
        terminal=True,
        reason="customer left the call",
    )


@pytest.mark.parametrize("reason", [None, "", "   "])
@pytest.mark.parametrize("state", ACTIVE)
def test_abort_without_reason_is_refused(state: str, reason: str | None) -> None:
    with pytest.raises(MissingAbortReason) as caught:
        advance(FLOW, state, ABORT_EVENT, reason=reason)
    assert isinstance(caught.value, WorkflowError)
    assert f'step "{state}"' in str(caught.value)


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("state", TERMINAL)
def test_events_after_finish_are_refused(state: str, event: str) -> None:
    with pytest.raises(FlowFinished) as caught:
        advance(FLOW, state, event, reason="late")
    assert isinstance(caught.value, TransitionNotAllowed)
    assert (caught.value.state, caught.value.event) == (state, event)
    assert f'event "{event}"' in str(caught.value)
    assert f'step "{state}"' in str(caught.value)
    assert "already finished" in str(caught.value)


def test_unknown_state() -> None:
    with pytest.raises(UnknownStep, match='flow "card_opening" has no step "nowhere"'):
        advance(FLOW, "nowhere", "identity_verified")


def test_forward_event() -> None:
    assert [FLOW.forward_event(state) for state, _ in PATH] == [event for _, event in PATH]
    assert FLOW.forward_event("completed") is None
    assert FLOW.forward_event(ABORTED_STEP) is None


def test_forward_event_is_none_at_a_choice() -> None:
    choice = FLOW.step("identity_check")
    branched = Flow(
        name=FLOW.name,
        title=FLOW.title,
        description=FLOW.description,
        initial=FLOW.initial,
        steps={
            **FLOW.steps,
            "identity_check": Step(
                name=choice.name,
                title=choice.title,
                script=choice.script,
                prompt=choice.prompt,
                transitions={**choice.transitions, "retry": "identity_check"},
            ),
        },
    )
    assert branched.events_from("identity_check") == ("identity_verified", "abort", "retry")
    assert branched.forward_event("identity_check") is None


def test_transition_data_is_a_read_only_copy() -> None:
    data = {"answer": "yes"}
    transition = advance(FLOW, "confirmation", "customer_confirmed", data=data)
    data["answer"] = "no"
    assert transition.data == {"answer": "yes"}
    with pytest.raises(TypeError):
        transition.data["answer"] = "no"  # type: ignore[index]


def test_flow_is_immutable() -> None:
    with pytest.raises(TypeError):
        FLOW.steps["extra"] = FLOW.step("completed")  # type: ignore[index]
    with pytest.raises(TypeError):
        FLOW.step("consent").transitions["skip"] = "signature"  # type: ignore[index]


def test_text_is_a_mapping_of_both_languages() -> None:
    text = Text(zh_cn="开卡", en="Card opening")
    assert dict(text) == {"zh-CN": "开卡", "en": "Card opening"}
    with pytest.raises(KeyError):
        text["fr"]
    with pytest.raises(ValueError, match='"en" text must be a non-empty string'):
        Text(zh_cn="开卡", en=" ")
