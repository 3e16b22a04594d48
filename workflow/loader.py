"""Loading flows from TOML files, one flow per file, validated as they are read."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from workflow.errors import FlowDefinitionError, UnknownFlow
from workflow.flow import ABORT_EVENT, ABORTED_STEP, Flow, Step, Text
from workflow.risk import Questionnaire, default_questionnaire
from workflow.steps import NAME, Invalid, check_keys, parse_step, text

FLOWS_DIR: Final = Path(__file__).resolve().parent / "flows"

_FLOW_REQUIRED: Final = frozenset({"name", "title", "description", "steps"})

# Every flow ends here on an abort; its texts are the same for all flows.
_ABORTED = Step(
    name=ABORTED_STEP,
    title=Text(zh_cn="业务已中止", en="Session aborted"),
    script=Text(
        zh_cn="本次业务已中止。如需继续办理，请重新发起视频服务，感谢您的配合。",
        en="This session has been stopped. To continue, please start a new video session. "
        "Thank you.",
    ),
    prompt=Text(zh_cn="本次业务已中止。", en="This session has been stopped."),
    terminal=True,
)


def load_flow(path: Path) -> Flow:
    """Read and validate one flow file, raising FlowDefinitionError on any problem."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise FlowDefinitionError(path, f"TOML syntax error: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise FlowDefinitionError(path, f"not UTF-8 text: {exc}") from exc
    try:
        return _parse_flow(document, path.stem)
    except Invalid as exc:
        raise FlowDefinitionError(path, str(exc)) from None


def load_flows(directory: Path | None = None) -> dict[str, Flow]:
    """Load every `*.toml` flow in `directory` (default: the package's), keyed by name.

    Files whose name starts with "_" hold shared data (the risk questionnaire), not flows.
    """
    directory = FLOWS_DIR if directory is None else Path(directory)
    if not directory.is_dir():
        raise NotADirectoryError(f"flow directory {directory} does not exist")
    paths = sorted(p for p in directory.glob("*.toml") if not p.name.startswith("_"))
    flows = (load_flow(path) for path in paths)
    return {flow.name: flow for flow in flows}


def get_flow(flows: Mapping[str, Flow], name: str) -> Flow:
    """Return the flow called `name`, raising UnknownFlow if none was loaded."""
    try:
        return flows[name]
    except KeyError:
        raise UnknownFlow(name, flows) from None


def _parse_flow(document: dict[str, Any], stem: str) -> Flow:
    check_keys(document, _FLOW_REQUIRED, frozenset(), "flow")
    name = document["name"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise Invalid(f"flow name {name!r} must be lower_snake_case")
    if name != stem:
        raise Invalid(f'flow name "{name}" does not match file name "{stem}"')
    title = text(document["title"], "flow title")
    description = text(document["description"], "flow description")
    tables = document["steps"]
    if not isinstance(tables, dict) or not tables:
        raise Invalid("steps must be a non-empty table of [steps.<name>] tables")
    questionnaire: list[Questionnaire] = []

    def get_questionnaire() -> Questionnaire:
        if not questionnaire:
            questionnaire.append(default_questionnaire())
        return questionnaire[0]

    steps: dict[str, Step] = {}
    initials: list[str] = []
    for step_name, table in tables.items():
        steps[step_name] = parse_step(step_name, table, get_questionnaire)
        if table.get("initial", False):
            initials.append(step_name)
    if len(initials) != 1:
        found = ", ".join(initials) or "none"
        raise Invalid(f"a flow needs exactly one initial step (found: {found})")
    initial = initials[0]
    if steps[initial].terminal:
        raise Invalid(f'initial step "{initial}" must not be terminal')
    _check_graph(steps, initial)
    _check_questions(steps)
    for step_name, step in steps.items():
        if not step.terminal:
            transitions = {**step.transitions, ABORT_EVENT: ABORTED_STEP}
            steps[step_name] = dataclasses.replace(step, transitions=transitions)
    steps[ABORTED_STEP] = _ABORTED
    return Flow(
        name=name,
        title=title,
        description=description,
        initial=initial,
        steps=steps,
        questionnaire=questionnaire[0] if questionnaire else None,
    )


def _check_questions(steps: Mapping[str, Step]) -> None:
    asked: dict[str, str] = {}
    for step in steps.values():
        for question in step.questions:
            if question in asked:
                raise Invalid(
                    f'step "{step.name}": question "{question}" is already asked in step '
                    f'"{asked[question]}"'
                )
            asked[question] = step.name


def _check_graph(steps: Mapping[str, Step], initial: str) -> None:
    for step in steps.values():
        for event, target in step.transitions.items():
            if target not in steps:
                raise Invalid(
                    f'step "{step.name}": event "{event}" leads to unknown step "{target}"'
                )
    reachable = {initial}
    frontier = [initial]
    while frontier:
        for target in steps[frontier.pop()].transitions.values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    unreachable = [name for name in steps if name not in reachable]
    if unreachable:
        raise Invalid(
            f'steps not reachable from initial step "{initial}": {", ".join(unreachable)}'
        )
    if not any(step.terminal for step in steps.values()):
        raise Invalid("the flow has no terminal step")
    # Checked without the engine-added abort, which would otherwise make every step finish.
    finishing = {name for name, step in steps.items() if step.terminal}
    changed = True
    while changed:
        changed = False
        for name, step in steps.items():
            if name not in finishing and finishing & set(step.transitions.values()):
                finishing.add(name)
                changed = True
    trapped = [name for name in steps if name not in finishing]
    if trapped:
        raise Invalid(f"no terminal step is reachable from steps: {', '.join(trapped)}")
