"""The settings written out for people: the table of docs/configuration.md, and the
commented ``dualrec.toml`` that ``dualrec init`` leaves in a new data folder.

Both are made from ``dualrec.options.OPTIONS`` and the defaults of ``Settings``;
``python -m dualrec.config_docs`` rewrites the table in docs/configuration.md (a test
checks it is current).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from .options import OPTIONS, Kind, Option
from .settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
BEGIN = "<!-- settings table: made by `python -m dualrec.config_docs`, do not edit -->"
END = "<!-- end of the settings table -->"
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}


def toml_literal(value: Any) -> str | None:
    """A default as it is written in the file; None when it has none to write."""
    if value is None or value == ():
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _default(option: Option) -> str:
    if option.default is not None:
        return option.default
    literal = toml_literal(_DEFAULTS[option.name])
    return "none" if literal is None else f"`{literal}`"


def _flag(option: Option) -> str:
    text = f"`{option.flag}`"
    if option.kind is Kind.BOOL:
        text = f"`{option.flag}`, `--no-{option.flag[2:]}`"
    if option.kind is Kind.LIST:
        text += " (repeatable)"
    if option.aliases:
        text += ", also " + ", ".join(f"`{alias}`" for alias in option.aliases)
    return text


def _meaning(option: Option) -> str:
    text = option.meaning.replace("|", "\\|")
    if option.choices:
        text += ": " + option.one_of("`")
    if option.secret:
        text += "; secret: never printed"
    return text


def settings_table() -> str:
    """The markdown table of every setting: file key, variable, flag, default, meaning."""
    rows = [
        "| setting (`dualrec.toml`) | environment | flag | kind | default | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        env = f"`{option.env}`" + (" (comma separated)" if option.kind is Kind.LIST else "")
        rows.append(
            f"| `{option.name}` | {env} | {_flag(option)} | {option.kind.value} | "
            f"{_default(option)} | {_meaning(option)} |"
        )
    return "\n".join(rows) + "\n"


def config_template() -> str:
    """A ``dualrec.toml`` with every setting commented out at its default."""
    lines = [
        "# dualrec's settings for this data folder. Each line is one setting, commented out",
        "# at its default; a DUALREC_<NAME> variable or a --<name> flag overrides it.",
        "# The table of them all: docs/configuration.md. Secrets belong in variables.",
        "",
    ]
    for option in OPTIONS:
        if option.name == "data_dir":
            continue  # this file lives in the data folder: it cannot move it
        literal = toml_literal(_DEFAULTS[option.name])
        shown = literal if literal is not None else ("[]" if option.kind is Kind.LIST else '""')
        lines.append(f"# {option.meaning}")
        lines.append(f"# {option.name} = {shown}")
    return "\n".join(lines) + "\n"


def with_table(document: str) -> str:
    """``document`` with the table between its markers made anew."""
    head, found, rest = document.partition(BEGIN)
    if not found or END not in rest:
        raise ValueError(f"the document has no settings table markers ({BEGIN!r})")
    return f"{head}{BEGIN}\n{settings_table()}{END}{rest.partition(END)[2]}"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC
    target.write_text(with_table(target.read_text("utf-8")), "utf-8")
    print(target)
