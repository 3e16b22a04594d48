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
