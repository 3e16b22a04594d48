"""The inspection report of a recording part: each step's checks, the part's, a score.

It is written into the part's folder as ``inspection.json``, hash-chained and listed in
the re-signed manifest like the evidence, and summarised in the database for search.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Self

from .verdicts import Check, Verdict, worst

REPORT_FILE = "inspection.json"
REPORT_FORMAT = "dualrec-inspection/1"


@dataclass(frozen=True)
class StepReport:
    """One step as it ran in the part, with its checks."""

    name: str
    start_ms: int
    end_ms: int
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> Verdict:
        """The worst of the step's checks."""
        return worst(check.verdict for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data."""
        return {
            "step": self.name,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "verdict": self.verdict.value,
            "checks": [check.to_dict() for check in self.checks],
        }


@dataclass(frozen=True)
class InspectionReport:
    """What inspection found in one recording part."""

    session_id: str
    part: int
    flow: str
    inspected_at: str
    duration_s: float
    steps: tuple[StepReport, ...]
    #: Checks of the whole part (a party never heard, evidence order).
    checks: tuple[Check, ...]
    #: CPU seconds the inspection took, for its cost per minute of recording.
    cpu_s: float = 0.0
    models: tuple[dict[str, str], ...] = field(default=())

    def all_checks(self) -> list[Check]:
        """The part's checks, then every step's."""
        return [*self.checks, *(check for step in self.steps for check in step.checks)]

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of any check."""
        return worst(check.verdict for check in self.all_checks())

    @property
    def score(self) -> float:
        """0-100: the mean score of the checks, a fail capping it at 59."""
        checks = self.all_checks()
        mean = 100.0 * sum(c.score for c in checks) / len(checks) if checks else 100.0
        return min(mean, 59.0) if self.verdict is Verdict.FAIL else mean

    def failed(self) -> list[str]:
        """The names of the checks that failed, once each, in order."""
        names = [c.name for c in self.all_checks() if c.verdict is Verdict.FAIL]
        return list(dict.fromkeys(names))

    def flagged(self) -> list[str]:
        """The names of the checks that need review, once each, in order."""
        names = [c.name for c in self.all_checks() if c.verdict is Verdict.NEEDS_REVIEW]
        return list(dict.fromkeys(names))

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "format": REPORT_FORMAT,
            "session_id": self.session_id,
            "part": self.part,
            "flow": self.flow,
            "inspected_at": self.inspected_at,
            "duration_s": round(self.duration_s, 3),
            "verdict": self.verdict.value,
            "score": round(self.score, 1),
            "failed": self.failed(),
            "needs_review": self.flagged(),
            "checks": [check.to_dict() for check in self.checks],
            "steps": [step.to_dict() for step in self.steps],
            "models": list(self.models),
            "cpu_s": round(self.cpu_s, 3),
        }

    def to_json(self) -> str:
        """The report as the JSON text of its file."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        """A report from its file's data."""
        if data.get("format") != REPORT_FORMAT:
            raise ValueError(f"not a {REPORT_FORMAT} report")
        return cls(
            session_id=str(data["session_id"]),
            part=int(data["part"]),
            flow=str(data["flow"]),
            inspected_at=str(data["inspected_at"]),
            duration_s=float(data["duration_s"]),
            steps=tuple(
                StepReport(
                    str(s["step"]),
                    int(s["start_ms"]),
                    int(s["end_ms"]),
                    tuple(Check.parse(c) for c in s["checks"]),
                )
                for s in data["steps"]
            ),
            checks=tuple(Check.parse(c) for c in data["checks"]),
            cpu_s=float(data.get("cpu_s", 0.0)),
            models=tuple(data.get("models", [])),
        )


def format_report(report: InspectionReport) -> str:
    """The report as text for people: the part's verdict, then each step's checks."""
    lines = [
        f"inspection of {report.session_id} part {report.part} ({report.flow}): "
        f"{report.verdict.value.upper()}, score {report.score:.0f}",
    ]

    def add(check: Check, indent: str) -> None:
        spans = ", ".join(f"{s.start_ms / 1000:.1f}-{s.end_ms / 1000:.1f}s" for s in check.spans)
        at = f" [{spans}]" if spans else ""
        lines.append(
            f"{indent}{check.verdict.value:<13}{check.name:<24}{check.score:5.2f}  "
            f"{check.detail}{at}"
        )

    for check in report.checks:
        add(check, "  ")
    for step in report.steps:
        lines.append(
            f"  step {step.name} ({step.start_ms / 1000:.1f}-{step.end_ms / 1000:.1f} s): "
            f"{step.verdict.value}"
        )
        for check in step.checks:
            add(check, "    ")
    models = ", ".join(f"{m['name']} {m['version']}" for m in report.models)
    lines.append(f"  judged by: {models}")
    return "\n".join(lines)
