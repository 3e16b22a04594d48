"""Drawing a flow as a Mermaid state diagram (stateDiagram-v2)."""

from __future__ import annotations

from workflow.flow import LANGUAGES, Flow

# Mermaid entity codes: a quote would end the label, a semicolon the statement.
_ESCAPES = str.maketrans({'"': "#quot;", ";": "#59;"})


def _label(text: str) -> str:
    return " ".join(text.split()).translate(_ESCAPES)


def to_mermaid(flow: Flow, language: str = "en") -> str:
    """Return the flow as a Mermaid stateDiagram-v2, steps titled in `language`."""
    if language not in LANGUAGES:
        raise ValueError(f'unknown language "{language}" (known: {", ".join(LANGUAGES)})')
    lines = ["stateDiagram-v2", f"    %% {flow.name}: {_label(flow.title[language])}"]
    for step in flow.steps.values():
        lines.append(f'    state "{_label(step.title[language])}" as {step.name}')
    lines.append(f"    [*] --> {flow.initial}")
    for step in flow.steps.values():
        for event, target in step.transitions.items():
            guard = step.guards.get(event)
            label = event if guard is None else f"{event} [{guard}]"
            lines.append(f"    {step.name} --> {target}: {label}")
    for step in flow.steps.values():
        if step.terminal:
            lines.append(f"    {step.name} --> [*]")
    return "\n".join(lines) + "\n"
