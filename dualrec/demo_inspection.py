"""The demo's call as inspection judged it: per step the checks that failed or need review.

The demo's cameras and microphones are synthetic (colours, a flash, a beep), not faces
and words: its face checks fail and no spoken confirmation passes; the summary says why
rather than leave the reader to think detection broke.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspection import REPORT_FILE, Check, InspectionReport, Verdict

#: The checks that look for a face, which no synthetic camera can show, or listen for
#: words, which no synthetic microphone says: what each says of them.
SYNTHETIC_NOTES = {
    **dict.fromkeys(
        ("customer_face", "agent_face", "customer_left_picture", "second_face"),
        "synthetic camera: no face to find",
    ),
    "customer_identity": "synthetic camera: no face to compare",
    "confirmation_speech": "synthetic microphone: a beep, no words",
}
#: Time ranges shown per check (the JSON has them all).
SHOWN_SPANS = 2


def _finding(check: Check, *, synthetic: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "check": check.name,
        "verdict": check.verdict.value,
        "score": round(check.score, 2),
        "detail": check.detail,
        "spans_s": [[s.start_ms / 1000, s.end_ms / 1000] for s in check.spans],
    }
    if synthetic and check.name in SYNTHETIC_NOTES:
        found["note"] = SYNTHETIC_NOTES[check.name]
    return found


def _findings(checks: tuple[Check, ...], *, synthetic: bool) -> list[dict[str, Any]]:
    return [_finding(c, synthetic=synthetic) for c in checks if c.verdict is not Verdict.PASS]


def inspection_summary(directory: Path, *, synthetic: bool = True) -> dict[str, Any] | None:
    """The part's inspection as JSON-ready data, or None if it was not inspected (blocking)."""
    path = directory / REPORT_FILE
    if not path.is_file():
        return None
    report = InspectionReport.parse(json.loads(path.read_text("utf-8")))
    return {
        "file": str(path),
        "verdict": report.verdict.value,
        "score": round(report.score, 1),
        "failed": report.failed(),
        "needs_review": report.flagged(),
        "cpu_s": round(report.cpu_s, 2),
        "duration_s": round(report.duration_s, 2),
        "part": _findings(report.checks, synthetic=synthetic),
        "steps": [
            {
                "step": step.name,
                "start_s": step.start_ms / 1000,
                "end_s": step.end_ms / 1000,
                "verdict": step.verdict.value,
                "findings": _findings(step.checks, synthetic=synthetic),
            }
            for step in report.steps
        ],
        "models": [f"{m['name']} {m['version']}" for m in report.models],
    }


def _line(found: dict[str, Any], indent: str) -> str:
    spans = ", ".join(f"{a:.1f}-{b:.1f}s" for a, b in found["spans_s"][:SHOWN_SPANS])
    more = len(found["spans_s"]) - SHOWN_SPANS
    at = f" [{spans}{f', +{more}' if more > 0 else ''}]" if spans else ""
    note = f"  ({found['note']})" if "note" in found else ""
    return f"{indent}{found['verdict']:<13}{found['check']:<22}{found['detail']}{at}{note}"


def format_inspection(data: dict[str, Any]) -> list[str]:
    """The inspection's lines of the demo's summary."""
    lines = [
        f"inspection   {data['verdict'].upper()}, score {data['score']:.0f} "
        f"({data['cpu_s']:.1f} s of CPU for {data['duration_s']:.1f} s of recording)",
    ]
    lines += [_line(found, "  whole call ") for found in data["part"]]
    clean = []
    for step in data["steps"]:
        if not step["findings"]:
            clean.append(step["step"])
            continue
        lines.append(f"  {step['step']} ({step['start_s']:.1f}-{step['end_s']:.1f} s)")
        lines += [_line(found, "    ") for found in step["findings"]]
    if clean:
        lines.append("  passed every check: " + ", ".join(clean))
    if any(
        "note" in f for f in [*data["part"], *(f for s in data["steps"] for f in s["findings"])]
    ):
        lines.append(
            "  (the demo's cameras show colours, not faces, and its microphones beep, so "
            "its face checks fail and no spoken confirmation can pass; a real call is "
            "judged by the same checks)"
        )
    lines.append(f"  report       {data['file']}")
    return lines
