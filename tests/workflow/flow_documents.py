"""Flow files for the loader tests: a minimal valid flow as a document, and TOML from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Document = dict[str, Any]


def text(label: str) -> dict[str, str]:
    """A text in both languages, made from `label`."""
    return {"zh-CN": f"{label}（中文）", "en": label}


def step_table(label: str, **extra: Any) -> dict[str, Any]:
    """A step's table with title, script and prompt, plus `extra` keys."""
    return {"title": text(label), "script": text(label), "prompt": text(label), **extra}


def minimal_flow() -> Document:
    """The smallest valid flow: a start step that goes to a terminal one."""
    return {
        "name": "tiny",
        "title": text("Tiny"),
        "description": text("A tiny flow"),
        "steps": {
            "start": step_table(
                "Start",
                initial=True,
                evidence=["consent"],
                timeout_s=60,
                transitions={"go": "done"},
            ),
            "done": step_table("Done", terminal=True),
        },
    }


def toml_value(value: Any) -> str:
    """`value` as a TOML value (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items())
        return "{ " + pairs + " }"
    raise TypeError(value)


def dumps(document: Document) -> str:
    """`document` as the text of a flow file."""
    lines = [f"{key} = {toml_value(value)}" for key, value in document.items() if key != "steps"]
    steps = document.get("steps", {})
    if not isinstance(steps, dict) or not steps:
        return "\n".join([*lines, f"steps = {toml_value(steps)}", ""])
    for name, table in steps.items():
        lines.append(f"\n[steps.{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in table.items())
    return "\n".join([*lines, ""])


def write_flow(directory: Path, document: Document, stem: str = "tiny") -> Path:
    """Write `document` as `directory/stem.toml`; returns the path."""
    path = directory / f"{stem}.toml"
    path.write_text(dumps(document), encoding="utf-8")
    return path
