"""Advancing a flow: a pure function from (state, event) to a Transition, or an error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from workflow.errors import FlowFinished, MissingAbortReason, TransitionNotAllowed
from workflow.flow import ABORT_EVENT, Flow


def _empty_data() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Transition:
    """The outcome of an accepted event: from `source` to `target`, with its reason and data."""

    event: str
    source: str
    target: str
    terminal: bool
    reason: str | None = None
    data: Mapping[str, object] = field(default_factory=_empty_data)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))


def advance(
    flow: Flow,
    state: str,
    event: str,
    *,
    reason: str | None = None,
    data: Mapping[str, object] | None = None,
) -> Transition:
    """Return the transition taken by `event` in step `state`, or raise if it is not allowed."""
    step = flow.step(state)
    if step.terminal:
        raise FlowFinished(flow.name, state, event)
    target = step.transitions.get(event)
    if target is None:
        raise TransitionNotAllowed(flow.name, state, event, flow.events_from(state))
    if event == ABORT_EVENT and (reason is None or not reason.strip()):
        raise MissingAbortReason(flow.name, state)
    return Transition(
        event=event,
        source=state,
        target=target,
        terminal=flow.step(target).terminal,
        reason=reason,
        data=data if data is not None else {},
    )
