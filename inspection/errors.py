"""Errors of inspection: one root, ``InspectionError``."""

from __future__ import annotations

from pathlib import Path


class InspectionError(Exception):
    """Root of the errors raised by ``inspection``."""


class NotInspectable(InspectionError):
    """A recording part that cannot be inspected (not closed, unreadable, altered)."""

    def __init__(self, folder: Path, problem: str) -> None:
        super().__init__(f"cannot inspect {folder}: {problem}")
        self.folder = folder
        self.problem = problem
