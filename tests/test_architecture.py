"""The arrows between the packages, and the size of modules, as docs/architecture.md draws them.

Imports are read with ``ast`` from every ``.py`` file of each package, lazy imports inside
functions included, as ``tests/workflow/test_workflow_purity.py`` does for ``workflow``.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.imports import imported_roots

ROOT = Path(__file__).resolve().parent.parent
#: The product packages, bottom first.
PACKAGES = (
    "common",
    "observability",
    "cluster",
    "workflow",
    "media",
    "storage",
    "synthetic",
    "inspection",
    "jobs",
    "browser",
    "signaling",
    "agent_console",
    "kiosk_client",
    "dualrec",
)
OURS = frozenset(PACKAGES)
MEDIA_LIBRARIES = frozenset({"av", "cv2", "boto3", "botocore", "numpy"})


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@dataclass(frozen=True)
class Rule:
    """Packages that must not import ``forbidden`` (packages of ours or libraries)."""

    name: str
    packages: tuple[str, ...]
    forbidden: frozenset[str]

    def breaches(self) -> dict[str, list[str]]:
        """Each offending module (from the repository root) with what it must not import."""
        found: dict[str, list[str]] = {}
        for package in self.packages:
            for source in _sources(package):
                wrong = sorted((imported_roots(source) & self.forbidden) - {package})
                if wrong:
                    found[str(source.relative_to(ROOT))] = wrong
        return found


def only(package: str, *allowed: str) -> frozenset[str]:
    """Everything of ours that ``package`` may not import when it may import only ``allowed``."""
    return OURS - {package, *allowed}


RULES = [
    Rule("common is a leaf", ("common",), only("common")),
    Rule(
        "cluster imports only common (it knows Redis, not calls)",
        ("cluster",),
        only("cluster", "common"),
    ),
    Rule(
        "observability imports only common",
        ("observability",),
        only("observability", "common") | MEDIA_LIBRARIES | {"aiortc"},
    ),
    Rule("workflow imports only common", ("workflow",), only("workflow", "common")),
    Rule("media imports only common", ("media",), only("media", "common")),
    Rule("storage imports only common", ("storage",), only("storage", "common")),
    Rule("synthetic imports only common", ("synthetic",), only("synthetic", "common")),
    Rule(
        "jobs imports only common, workflow, media, storage, observability and inspection",
        ("jobs",),
        only("jobs", "common", "workflow", "media", "storage", "observability", "inspection"),
    ),
    Rule(
        "inspection imports only common, workflow, media and storage",
        ("inspection",),
        only("inspection", "common", "workflow", "media", "storage"),
    ),
    Rule(
        "browser imports only common and workflow",
        ("browser",),
        only("browser", "common", "workflow"),
    ),
    Rule(
        "signaling imports no pages, no CLI and no media or S3 libraries",
        ("signaling",),
        frozenset({"agent_console", "kiosk_client", "dualrec"}) | MEDIA_LIBRARIES,
    ),
    Rule(
        "kiosk_client touches neither storage, media nor jobs",
        ("kiosk_client",),
        frozenset({"storage", "media", "jobs"}),
    ),
    Rule(
        "agent_console and kiosk_client never import each other",
        ("agent_console", "kiosk_client"),
        frozenset({"agent_console", "kiosk_client"}),
    ),
    Rule(
        "only dualrec wires everything",
        tuple(p for p in PACKAGES if p != "dualrec" and (ROOT / p).is_dir()),
        frozenset({"dualrec"}),
    ),
]


@pytest.mark.parametrize("rule", RULES, ids=[rule.name.replace(" ", "-") for rule in RULES])
def test_import_rule(rule: Rule) -> None:
    for package in rule.packages:
        # A rule over a package that is not there would pass by having nothing to check.
        assert _sources(package), f"no package {package}/"
    assert rule.breaches() == {}


def test_rules_name_only_our_packages() -> None:
    assert all(p in OURS for rule in RULES for p in rule.packages)


def test_every_packaged_package_is_ruled() -> None:
    """A package added to pyproject.toml gets its arrows here (and in the docs) too."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = setup["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in included} <= OURS


# -- module size --------------------------------------------------------------------------

MAX_LINES = 400
#: Modules allowed over MAX_LINES: each must say why in its docstring, in a sentence such
#: as "Over 400 lines because ...". Empty today; add a module only with its reason.
LONG_MODULES: frozenset[str] = frozenset()
REASON = re.compile(r"400 lines\b[^.]{0,40}?\b(because|since)\b\s*\S[^.]{15,}")


def _too_long(directory: str) -> dict[str, int]:
    lengths = {
        str(source.relative_to(ROOT)): len(source.read_text(encoding="utf-8").splitlines())
        for source in sorted((ROOT / directory).rglob("*.py"))
    }
    return {
        name: lines
        for name, lines in lengths.items()
        if lines > MAX_LINES and name not in LONG_MODULES
    }


@pytest.mark.parametrize("directory", [*PACKAGES, "tests"])
def test_no_module_over_400_lines(directory: str) -> None:
    assert _too_long(directory) == {}


def test_long_modules_say_why() -> None:
    for name in sorted(LONG_MODULES):
        source = ROOT / name
        lines = len(source.read_text(encoding="utf-8").splitlines())
        assert lines > MAX_LINES, f"{name} is {lines} lines: take it off LONG_MODULES"
        docstring = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or ""
        assert REASON.search(" ".join(docstring.split())), f"{name}: say why in its docstring"


def test_reason_pattern() -> None:
    assert REASON.search("Over 400 lines because the table of codecs is one piece of data.")
    assert not REASON.search("Over 400 lines.")
