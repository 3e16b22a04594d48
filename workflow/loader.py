"""Loading flows from TOML files, one flow per file, validated as they are read."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from workflow.errors import FlowDefinitionError, UnknownFlow
from workflow.flow import ABORT_EVENT, ABORTED_STEP, EVIDENCE_TYPES, LANGUAGES, Flow, Step, Text

FLOWS_DIR: Final = Path(__file__).resolve().parent / "flows"

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_FLOW_REQUIRED: Final = frozenset({"name", "title", "description", "steps"})
_STEP_REQUIRED: Final = frozenset({"title", "script", "prompt"})
_STEP_OPTIONAL: Final = frozenset({"initial", "terminal", "evidence", "transitions", "timeout_s"})

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


class _Invalid(Exception):
    """A problem found in a flow file, turned into FlowDefinitionError by load_flow."""


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
    except _Invalid as exc:
        raise FlowDefinitionError(path, str(exc)) from None


def load_flows(directory: Path | None = None) -> dict[str, Flow]:
    """Load every `*.toml` flow in `directory` (default: the package's flows), keyed by name."""
    directory = FLOWS_DIR if directory is None else Path(directory)
    if not directory.is_dir():
        raise NotADirectoryError(f"flow directory {directory} does not exist")
    flows = (load_flow(path) for path in sorted(directory.glob("*.toml")))
    return {flow.name: flow for flow in flows}


def get_flow(flows: Mapping[str, Flow], name: str) -> Flow:
    """Return the flow called `name`, raising UnknownFlow if none was loaded."""
    try:
        return flows[name]
    except KeyError:
        raise UnknownFlow(name, flows) from None


def _parse_flow(document: dict[str, Any], stem: str) -> Flow:
    _check_keys(document, _FLOW_REQUIRED, frozenset(), "flow")
    name = document["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _Invalid(f"flow name {name!r} must be lower_snake_case")
    if name != stem:
        raise _Invalid(f'flow name "{name}" does not match file name "{stem}"')
    title = _text(document["title"], "flow title")
    description = _text(document["description"], "flow description")
    tables = document["steps"]
    if not isinstance(tables, dict) or not tables:
        raise _Invalid("steps must be a non-empty table of [steps.<name>] tables")
    steps: dict[str, Step] = {}
    initials: list[str] = []
    for step_name, table in tables.items():
        steps[step_name] = _parse_step(step_name, table)
        if table.get("initial", False):
            initials.append(step_name)
    if len(initials) != 1:
        found = ", ".join(initials) or "none"
        raise _Invalid(f"a flow needs exactly one initial step (found: {found})")
    initial = initials[0]
    if steps[initial].terminal:
        raise _Invalid(f'initial step "{initial}" must not be terminal')
    _check_graph(steps, initial)
    for step_name, step in steps.items():
        if not step.terminal:
            transitions = {**step.transitions, ABORT_EVENT: ABORTED_STEP}
            steps[step_name] = Step(
                name=step.name,
                title=step.title,
                script=step.script,
                prompt=step.prompt,
                evidence=step.evidence,
                transitions=transitions,
                timeout_s=step.timeout_s,
                terminal=False,
            )
    steps[ABORTED_STEP] = _ABORTED
    return Flow(name=name, title=title, description=description, initial=initial, steps=steps)


def _parse_step(name: str, table: object) -> Step:
    where = f'step "{name}"'
    if not _NAME.fullmatch(name):
        raise _Invalid(f"{where}: step names must be lower_snake_case")
    if name == ABORTED_STEP:
        raise _Invalid(f'{where}: the name "{ABORTED_STEP}" is reserved for the abort step')
    if not isinstance(table, dict):
        raise _Invalid(f"{where}: must be a table")
    _check_keys(table, _STEP_REQUIRED, _STEP_OPTIONAL, where)
    for flag in ("initial", "terminal"):
        if not isinstance(table.get(flag, False), bool):
            raise _Invalid(f"{where}: {flag} must be true or false")
    terminal: bool = table.get("terminal", False)
    evidence = _evidence(table.get("evidence", []), where)
    transitions = _transitions(table.get("transitions", {}), where)
    timeout_s = table.get("timeout_s")
    if timeout_s is not None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s <= 0:
            raise _Invalid(f"{where}: timeout_s must be a positive whole number of seconds")
        if terminal:
            raise _Invalid(f"{where}: a terminal step has no timeout_s")
    if terminal and transitions:
        raise _Invalid(f"{where}: a terminal step must have no transitions")
    return Step(
        name=name,
        title=_text(table["title"], f"{where} title"),
        script=_text(table["script"], f"{where} script"),
        prompt=_text(table["prompt"], f"{where} prompt"),
        evidence=evidence,
        transitions=transitions,
        timeout_s=timeout_s,
        terminal=terminal,
    )


def _check_keys(
    table: Mapping[str, object], required: frozenset[str], optional: frozenset[str], where: str
) -> None:
    missing = sorted(required - table.keys())
    if missing:
        raise _Invalid(f'{where}: missing key "{missing[0]}"')
    unknown = sorted(table.keys() - required - optional)
    if unknown:
        raise _Invalid(f'{where}: unknown key "{unknown[0]}"')


def _text(value: object, where: str) -> Text:
    if not isinstance(value, dict):
        raise _Invalid(f"{where}: must be a table of texts by language ({', '.join(LANGUAGES)})")
    for language in LANGUAGES:
        if language not in value:
            raise _Invalid(f'{where}: missing "{language}" text')
    unknown = sorted(value.keys() - set(LANGUAGES))
    if unknown:
        raise _Invalid(f'{where}: unknown language "{unknown[0]}"')
    try:
        return Text(zh_cn=value["zh-CN"], en=value["en"])
    except ValueError as exc:
        raise _Invalid(f"{where}: {exc}") from None


def _evidence(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(kind, str) for kind in value):
        raise _Invalid(f"{where}: evidence must be a list of evidence types")
    for kind in value:
        if kind not in EVIDENCE_TYPES:
            known = ", ".join(sorted(EVIDENCE_TYPES))
            raise _Invalid(f'{where}: unknown evidence type "{kind}" (known: {known})')
    if len(set(value)) != len(value):
        raise _Invalid(f"{where}: an evidence type is listed twice")
    return tuple(value)


def _transitions(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(f"{where}: transitions must be a table of event = target step")
    for event, target in value.items():
        if event == ABORT_EVENT:
            raise _Invalid(
                f'{where}: the event "{ABORT_EVENT}" is reserved and added to every step'
            )
        if not _NAME.fullmatch(event):
            raise _Invalid(f'{where}: event name "{event}" must be lower_snake_case')
        if not isinstance(target, str):
            raise _Invalid(f'{where}: the target of event "{event}" must be a step name')
    return dict(value)


def _check_graph(steps: Mapping[str, Step], initial: str) -> None:
    for step in steps.values():
        for event, target in step.transitions.items():
            if target not in steps:
                raise _Invalid(
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
        raise _Invalid(
            f'steps not reachable from initial step "{initial}": {", ".join(unreachable)}'
        )
    if not any(step.terminal for step in steps.values()):
        raise _Invalid("the flow has no terminal step")
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
        raise _Invalid(f"no terminal step is reachable from steps: {', '.join(trapped)}")
