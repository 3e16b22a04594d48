"""Advancing a flow: a pure function from (state, context, event) to a Transition, or an error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from workflow.context import ANSWERS_KEY, COLLECTABLE, EVIDENCE_KEY, NOTE_KEY, FlowContext
from workflow.errors import (
    ClockRequired,
    FlowFinished,
    GuardFailed,
    InvalidAnswers,
    InvalidData,
    MissingAbortReason,
    MissingData,
    MissingEvidence,
    TransitionNotAllowed,
)
from workflow.flow import ABORT_EVENT, Flow, Step
from workflow.guards import EFFECTS, GUARDS

_MAX_REF = 512
_MAX_NOTE = 500

_Invalid = Callable[[str, str], InvalidData]


def _empty_data() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Transition:
    """The outcome of an accepted event: from `source` to `target`, with its reason and data.

    `context` is the session context after the event; store it with `target` to resume.
    """

    event: str
    source: str
    target: str
    terminal: bool
    reason: str | None = None
    data: Mapping[str, object] = field(default_factory=_empty_data)
    context: FlowContext = field(default_factory=FlowContext)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))


def advance(
    flow: Flow,
    state: str,
    event: str,
    *,
    reason: str | None = None,
    data: Mapping[str, object] | None = None,
    context: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Transition:
    """Return the transition taken by `event` in step `state`, or raise if it is not allowed.

    With `context` (the session's facts so far, `{}` at the start) the event's data is
    validated and merged, and the step's required facts, evidence and guard are enforced;
    without it only the step graph is checked (the behaviour before contexts existed).
    """
    step = flow.step(state)
    if step.terminal:
        raise FlowFinished(flow.name, state, event)
    target = step.transitions.get(event)
    if target is None:
        raise TransitionNotAllowed(flow.name, state, event, flow.events_from(state))
    payload = data if data is not None else {}
    if event == ABORT_EVENT:
        if reason is None or not reason.strip():
            raise MissingAbortReason(flow.name, state)
        after = _as_context(context)
    elif context is None:
        after = FlowContext()
    else:
        after = _check_forward(flow, step, event, _as_context(context), payload, now)
    return Transition(
        event=event,
        source=state,
        target=target,
        terminal=flow.step(target).terminal,
        reason=reason,
        data=payload,
        context=after,
    )


def collect(
    flow: Flow, state: str, context: Mapping[str, Any], data: Mapping[str, object]
) -> FlowContext:
    """Merge data that arrives before the step's forward event (say, a signature) into context."""
    step = flow.step(state)
    if step.terminal:
        raise FlowFinished(flow.name, state, "collect")
    return _merge(flow, step, "collect", _as_context(context), data)


def deadline(step: Step, entered_at: datetime) -> datetime | None:
    """When a step entered at `entered_at` times out, or None if it has no timeout."""
    return None if step.timeout_s is None else entered_at + timedelta(seconds=step.timeout_s)


def expired(step: Step, entered_at: datetime, now: datetime) -> bool:
    """Whether a step entered at `entered_at` has timed out at `now` (abort it if so)."""
    limit = deadline(step, entered_at)
    return limit is not None and now >= limit


def missing_evidence(step: Step, context: Mapping[str, Any]) -> tuple[str, ...]:
    """The evidence types the step still needs before its forward event is accepted."""
    have = _as_context(context).evidence(step.name)
    return tuple(kind for kind in step.evidence if kind not in have)


def _as_context(context: Mapping[str, Any] | None) -> FlowContext:
    if isinstance(context, FlowContext):
        return context
    return FlowContext(context)


def _check_forward(
    flow: Flow,
    step: Step,
    event: str,
    context: FlowContext,
    data: Mapping[str, object],
    now: datetime | None,
) -> FlowContext:
    after = _merge(flow, step, event, context, data)
    for fact in step.collects:
        if fact not in after:
            raise MissingData(flow.name, step.name, event, fact)
    unanswered = [question for question in step.questions if question not in after.answers()]
    if unanswered:
        raise InvalidData(
            flow.name, step.name, event, ANSWERS_KEY, f"unanswered: {', '.join(unanswered)}"
        )
    missing = missing_evidence(step, after)
    if missing:
        raise MissingEvidence(flow.name, step.name, event, missing)
    guard_name = step.guards.get(event)
    if guard_name is not None:
        guard = GUARDS[guard_name]
        if guard.needs_clock and now is None:
            raise ClockRequired(flow.name, step.name, event, guard_name)
        detail = guard.check(flow, after, now)
        if detail is not None:
            raise GuardFailed(flow.name, step.name, event, guard_name, detail)
    effect_name = step.effects.get(event)
    if effect_name is not None:
        effect = EFFECTS[effect_name]
        if effect.needs_clock and now is None:
            raise ClockRequired(flow.name, step.name, event, effect_name)
        try:
            after = after.updated(effect.apply(flow, after, now))
        except InvalidAnswers as exc:
            raise InvalidData(flow.name, step.name, event, ANSWERS_KEY, exc.problem) from None
    return after


def _merge(
    flow: Flow, step: Step, event: str, context: FlowContext, data: Mapping[str, object]
) -> FlowContext:
    """Validate the event data against what the step takes and merge it into the context."""

    def invalid(key: str, problem: str) -> InvalidData:
        return InvalidData(flow.name, step.name, event, key, problem)

    facts: dict[str, object] = {}
    evidence: dict[str, str] = {}
    answers: dict[str, str] = {}
    for key, value in data.items():
        if key == EVIDENCE_KEY:
            evidence = _evidence(step, value, invalid)
        elif key == ANSWERS_KEY and step.questions:
            answers = _answers(flow, step, value, invalid)
        elif key == NOTE_KEY:
            if not isinstance(value, str) or len(value) > _MAX_NOTE:
                raise invalid(key, f"must be a string of at most {_MAX_NOTE} characters")
        elif key in step.collects or key in step.may_collect:
            try:
                facts[key] = COLLECTABLE[key](value)
            except ValueError as exc:
                raise invalid(key, str(exc)) from None
        else:
            raise invalid(key, "not taken in this step")
    return context.updated(facts, step=step.name, evidence=evidence, answers=answers)


def _evidence(step: Step, value: object, invalid: _Invalid) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise invalid(EVIDENCE_KEY, "must be a table of evidence type = reference")
    for kind, ref in value.items():
        if kind not in step.evidence:
            taken = ", ".join(step.evidence) or "none"
            raise invalid(EVIDENCE_KEY, f'"{kind}" is not required in this step (taken: {taken})')
        if not isinstance(ref, str) or not ref.strip() or len(ref) > _MAX_REF:
            raise invalid(EVIDENCE_KEY, f'"{kind}" needs a non-empty reference string')
    return {str(kind): str(ref).strip() for kind, ref in value.items()}


def _answers(flow: Flow, step: Step, value: object, invalid: _Invalid) -> dict[str, str]:
    if not isinstance(value, Mapping) or flow.questionnaire is None:
        raise invalid(ANSWERS_KEY, "must be a table of question id = option id")
    for question in value:
        if question not in step.questions:
            raise invalid(ANSWERS_KEY, f'question "{question}" is not asked in this step')
    try:
        flow.questionnaire.check(value)
    except InvalidAnswers as exc:
        raise invalid(ANSWERS_KEY, exc.problem) from None
    return {str(question): str(option) for question, option in value.items()}
