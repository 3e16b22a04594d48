"""The call lifecycle state machine on its own: no sockets, no media, no database."""

from __future__ import annotations

import itertools

import pytest

from signaling.call import (
    TRANSITIONS,
    CallEvent,
    CallLifecycle,
    CallOutcome,
    CallState,
)
from signaling.errors import CallTransitionNotAllowed, OutOfOrder

HAPPY_PATH = [CallEvent.MATCH, CallEvent.OFFER, CallEvent.OFFER]


def _recording() -> CallLifecycle:
    call = CallLifecycle("s1")
    for event in HAPPY_PATH:
        call.fire(event)
    call.recording_started(1_700_000_000.0)
    return call


def test_a_call_runs_from_the_queue_to_its_recording() -> None:
    call = CallLifecycle("s1")
    assert call.state is CallState.QUEUED and call.open and not call.recording
    assert call.fire(CallEvent.MATCH) is CallState.MATCHED
    assert call.fire(CallEvent.OFFER) is CallState.CONNECTING
    assert call.fire(CallEvent.OFFER) is CallState.CONNECTING  # the other party's offer
    call.recording_started(1_700_000_000.0)
    assert call.recording
    assert call.t0 == 1_700_000_000.0
    assert not call.closed.is_set()


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (CallOutcome.ENDED, CallState.ENDED),
        (CallOutcome.FAILED, CallState.FAILED),
        (CallOutcome.INTERRUPTED, CallState.INTERRUPTED),
    ],
)
def test_closing_ends_in_the_outcome(outcome: CallOutcome, state: CallState) -> None:
    call = _recording()
    call.fire(CallEvent.CLOSE)
    assert call.state is CallState.CLOSING and not call.open and not call.recording
    assert call.outcome is None and not call.closed.is_set()
    assert call.finish(outcome) is state
    assert call.outcome is outcome
    assert call.closed.is_set()


@pytest.mark.parametrize("state", [CallState.QUEUED, CallState.MATCHED, CallState.CONNECTING])
def test_a_call_can_close_before_it_records(state: CallState) -> None:
    call = CallLifecycle("s1", state)
    call.fire(CallEvent.CLOSE)
    call.finish(CallOutcome.ENDED)
    assert call.outcome is CallOutcome.ENDED and call.t0 is None


def test_a_held_call_waits_for_the_customer_then_ends_or_is_released() -> None:
    given_up = _recording()
    given_up.fire(CallEvent.CLOSE)
    assert given_up.fire(CallEvent.HOLD) is CallState.HELD
    assert given_up.closed.is_set() and given_up.outcome is None
    assert given_up.fire(CallEvent.GIVE_UP) is CallState.ENDED

    resumed = _recording()
    resumed.fire(CallEvent.CLOSE)
    resumed.fire(CallEvent.HOLD)
    assert resumed.fire(CallEvent.RELEASE) is CallState.INTERRUPTED
    assert resumed.outcome is CallOutcome.INTERRUPTED


def test_an_illegal_step_raises_naming_the_state_and_event() -> None:
    call = CallLifecycle("s42")
    with pytest.raises(CallTransitionNotAllowed) as caught:
        call.fire(CallEvent.CONNECTED)
    assert caught.value.state == "queued" and caught.value.event == "connected"
    assert 'cannot handle "connected" in state "queued"' in str(caught.value)
    # It is an OutOfOrder: the client hears "out_of_order", the call is unchanged.
    assert isinstance(caught.value, OutOfOrder)
    assert call.state is CallState.QUEUED


def test_a_closed_call_cannot_be_closed_twice_nor_reopened() -> None:
    call = _recording()
    call.fire(CallEvent.CLOSE)
    with pytest.raises(CallTransitionNotAllowed):
        call.fire(CallEvent.CLOSE)
    call.finish(CallOutcome.ENDED)
    for event in CallEvent:
        assert not call.can(event)
        with pytest.raises(CallTransitionNotAllowed):
            call.fire(event)


def test_the_table_allows_exactly_the_documented_steps() -> None:
    """Every (state, event) pair is either in the table or refused; finals have no exit."""
    allowed = 0
    for state, event in itertools.product(CallState, CallEvent):
        call = CallLifecycle("s", state)
        if (state, event) in TRANSITIONS:
            allowed += 1
            assert call.fire(event) is TRANSITIONS[state, event]
        else:
            with pytest.raises(CallTransitionNotAllowed):
                call.fire(event)
            assert call.state is state
    assert allowed == len(TRANSITIONS) == 14
    finals = {s for s in CallState if s.outcome is not None}
    assert finals == {CallState.ENDED, CallState.FAILED, CallState.INTERRUPTED}
    assert not any(state in finals for state, _ in TRANSITIONS)


def test_every_state_is_reachable_from_the_queue() -> None:
    reached, frontier = {CallState.QUEUED}, [CallState.QUEUED]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(CallState)


def test_outcomes_are_the_stored_session_statuses() -> None:
    from storage import SessionStatus

    for outcome in CallOutcome:
        assert SessionStatus(outcome.value).value == outcome.value


def test_each_role_may_send_exactly_the_messages_dispatch_handles() -> None:
    """The permission table and the typed dispatch name the same messages."""
    from typing import get_args

    from signaling.admission import PERMISSIONS, CallerMessage

    permitted = {cls for allowed in PERMISSIONS.values() for cls in allowed}
    assert permitted == set(get_args(CallerMessage))
