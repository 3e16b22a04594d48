"""Pure state machines of the business flows: flows are data, loaded from TOML and validated."""

from workflow.engine import Transition, advance
from workflow.errors import (
    FlowDefinitionError,
    FlowFinished,
    MissingAbortReason,
    TransitionNotAllowed,
    UnknownFlow,
    UnknownStep,
    WorkflowError,
)
from workflow.flow import ABORT_EVENT, ABORTED_STEP, EVIDENCE_TYPES, LANGUAGES, Flow, Step, Text
from workflow.loader import FLOWS_DIR, get_flow, load_flow, load_flows

__all__ = [
    "ABORTED_STEP",
    "ABORT_EVENT",
    "EVIDENCE_TYPES",
    "FLOWS_DIR",
    "LANGUAGES",
    "Flow",
    "FlowDefinitionError",
    "FlowFinished",
    "MissingAbortReason",
    "Step",
    "Text",
    "Transition",
    "TransitionNotAllowed",
    "UnknownFlow",
    "UnknownStep",
    "WorkflowError",
    "advance",
    "get_flow",
    "load_flow",
    "load_flows",
]
