"""Reading a module's imports with ``ast``, for the tests that hold the packages' arrows."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_roots(source: Path) -> set[str]:
    """The top-level names a module imports (absolute imports; relative ones stay inside).

    Imports inside functions count too: a lazy import is still an arrow.
    """
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots
