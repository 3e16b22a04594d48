"""Errors raised by the workflow package."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class WorkflowError(Exception):
    """Root of every error raised by the workflow package."""


class TransitionNotAllowed(WorkflowError):
    """An event that the current step of a flow does not accept."""

    def __init__(self, flow: str, state: str, event: str, allowed: Iterable[str] = ()) -> None:
        self.flow = flow
        self.state = state
        self.event = event
        self.allowed = tuple(allowed)
        super().__init__(self._message())

    def _message(self) -> str:
        allowed = ", ".join(self.allowed) or "none"
        return (
            f'event "{self.event}" is not allowed in step "{self.state}" '
            f'of flow "{self.flow}" (allowed: {allowed})'
        )


class FlowFinished(TransitionNotAllowed):
    """An event sent after the flow reached a terminal step."""

    def _message(self) -> str:
        return (
            f'event "{self.event}" is not allowed in step "{self.state}" '
            f'of flow "{self.flow}": the flow has already finished'
        )


class MissingAbortReason(WorkflowError, ValueError):
    """An abort without a non-empty reason."""

    def __init__(self, flow: str, state: str) -> None:
        self.flow = flow
        self.state = state
        super().__init__(
            f'event "abort" in step "{state}" of flow "{flow}" needs a non-empty reason'
        )


class UnknownStep(WorkflowError, LookupError):
    """A step name that the flow does not define."""

    def __init__(self, flow: str, step: str) -> None:
        self.flow = flow
        self.step = step
        super().__init__(f'flow "{flow}" has no step "{step}"')


class UnknownFlow(WorkflowError, LookupError):
    """A flow name that no loaded flow file defines."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f'unknown flow "{name}" (known: {", ".join(self.known) or "none"})')


class FlowDefinitionError(WorkflowError, ValueError):
    """A flow file that cannot be read or is not a valid flow."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"invalid flow file {path}: {problem}")


class StepRefused(WorkflowError):
    """An event the step knows but refuses: missing data or evidence, or a failed guard."""

    def __init__(self, flow: str, state: str, event: str, problem: str) -> None:
        self.flow = flow
        self.state = state
        self.event = event
        self.problem = problem
        super().__init__(
            f'event "{event}" is refused in step "{state}" of flow "{flow}": {problem}'
        )


class InvalidData(StepRefused, ValueError):
    """Event data that the step does not take, or a value that is not valid."""

    def __init__(self, flow: str, state: str, event: str, key: str, problem: str) -> None:
        self.key = key
        super().__init__(flow, state, event, f'data "{key}": {problem}')


class MissingData(InvalidData):
    """A fact the step collects that is neither in the event data nor in the context."""

    def __init__(self, flow: str, state: str, event: str, key: str) -> None:
        super().__init__(flow, state, event, key, "missing")


class MissingEvidence(StepRefused):
    """A forward event sent before the step's required evidence was supplied."""

    def __init__(self, flow: str, state: str, event: str, missing: Iterable[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(flow, state, event, f"missing evidence: {', '.join(self.missing)}")


class GuardFailed(StepRefused):
    """A transition whose guard does not hold for the session's facts."""

    def __init__(self, flow: str, state: str, event: str, guard: str, detail: str) -> None:
        self.guard = guard
        self.detail = detail
        super().__init__(flow, state, event, f'guard "{guard}" failed: {detail}')


class ClockRequired(WorkflowError, ValueError):
    """A guard or effect that needs the current time, called without `now`."""

    def __init__(self, flow: str, state: str, event: str, name: str) -> None:
        self.flow = flow
        self.state = state
        self.event = event
        self.name = name
        super().__init__(
            f'event "{event}" in step "{state}" of flow "{flow}": '
            f'"{name}" needs the current time (pass now=...)'
        )


class InvalidContext(WorkflowError, ValueError):
    """A stored session context that cannot be restored."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f'invalid session context: "{key}": {problem}')


class InvalidIdNumber(WorkflowError, ValueError):
    """A PRC resident ID number that is malformed; the message shows it masked."""

    def __init__(self, masked: str, problem: str) -> None:
        self.masked = masked
        self.problem = problem
        super().__init__(f"invalid resident ID number {masked}: {problem}")


class InvalidCreditCode(WorkflowError, ValueError):
    """A unified social credit code (统一社会信用代码) that is malformed."""

    def __init__(self, code: str, problem: str) -> None:
        self.code = code
        self.problem = problem
        super().__init__(f'invalid unified social credit code "{code}": {problem}')


class InvalidAnswers(WorkflowError, ValueError):
    """Questionnaire answers naming an unknown question or option, or incomplete."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"invalid questionnaire answers: {problem}")
