"""Completeness: each step's evidence present, intact, in the flow's order; a real signature.

Read from the part's signed manifest (its evidence rows, with each file's SHA-256) and
the evidence files themselves. A step left by its forward event must hold every
evidence its flow requires, and the server's announcement record if it has one; a step
left by an abort, or the one the part ended in, owes nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cv2
import numpy as np

from common import TTS_PLAYED, EvidenceKind
from workflow import ABORT_EVENT, Flow

from .recording import RecordedPart, StepSpan
from .verdicts import RULES, Check, Model, Span, Verdict

SIGNATURE_MODEL = Model("dualrec-signature-ink", "1")
#: Below this share of dark pixels a signature is blank (as ``media.evidence`` refuses).
MIN_INK = 0.002


def required(flow: Flow, step: str) -> list[str]:
    """The evidence a step owes before it may be left forward."""
    definition = flow.step(step)
    return [*definition.evidence, *([TTS_PLAYED] if definition.tts is not None else [])]


def _intact(part: RecordedPart, row: dict[str, Any]) -> str | None:
    """Why an evidence row's file is not as the manifest says, or None."""
    name = row.get("file")
    if not name:
        return None
    path = part.folder / str(name)
    if not path.is_file():
        return f"{name} is missing"
    if hashlib.sha256(path.read_bytes()).hexdigest() != row.get("sha256"):
        return f"{name} differs from its record"
    return None


def step_evidence(flow: Flow, part: RecordedPart, visit: StepSpan) -> Check:
    """The evidence a step left forward owes: present and intact."""
    rows = [row for row in part.evidence() if row["step"] == visit.name]
    if visit.left_by is None or visit.left_by == ABORT_EVENT:
        why = "the part ended in the step" if visit.left_by is None else "the step was aborted"
        return Check("evidence", Verdict.PASS, 1.0, RULES, f"nothing owed: {why}")
    owed = required(flow, visit.name)
    kinds = {str(row["kind"]) for row in rows}
    missing = [kind for kind in owed if kind not in kinds]
    broken = [problem for row in rows if (problem := _intact(part, row))]
    span = (Span(visit.start_ms, visit.end_ms),)
    if missing or broken:
        problems = [f"missing {kind}" for kind in missing] + broken
        score = 1.0 - (len(missing) + len(broken)) / max(1, len(owed) + len(rows))
        return Check("evidence", Verdict.FAIL, max(0.0, score), RULES, "; ".join(problems), span)
    listed = ", ".join(owed) or "none required"
    return Check("evidence", Verdict.PASS, 1.0, RULES, f"evidence present: {listed}")


def evidence_order(part: RecordedPart) -> Check:
    """Evidence in the order of the steps it was given in, each within its step's time."""
    position: dict[str, int] = {}
    for index, visit in enumerate(part.steps):
        position.setdefault(visit.name, index)
    problems: list[str] = []
    spans: list[Span] = []
    last = -1
    for row in part.evidence():
        found = position.get(str(row["step"]))
        if found is None:
            problems.append(f"evidence {row['seq']} is of step {row['step']}, not run in the part")
            continue
        index = found
        if index < last:
            problems.append(f"evidence {row['seq']} ({row['step']}) comes after a later step's")
        last = max(last, index)
        at, visit = row.get("offset_ms"), part.steps[index]
        visits = [v for v in part.steps if v.name == visit.name]
        if at is not None and not any(v.start_ms - 1000 <= at <= v.end_ms + 1000 for v in visits):
            problems.append(f"evidence {row['seq']} ({row['step']}) is outside its step's time")
            spans.append(Span(int(at), int(at)))
    if problems:
        return Check("evidence_order", Verdict.FAIL, 0.0, RULES, "; ".join(problems), tuple(spans))
    return Check("evidence_order", Verdict.PASS, 1.0, RULES, "evidence in the flow's order")


def ink_share(png: bytes) -> float | None:
    """The share of dark pixels of a PNG signature, None if it does not decode."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None or image.size == 0:
        return None
    return float(np.count_nonzero(image < 128)) / image.size


def signature(part: RecordedPart, visit: StepSpan) -> Check:
    """A step's signature image: present, a decodable picture, and not blank."""
    rows = [
        row
        for row in part.evidence()
        if row["step"] == visit.name and row["kind"] == EvidenceKind.SIGNATURE_IMAGE.value
    ]
    span = (Span(visit.start_ms, visit.end_ms),)
    if not rows or not rows[-1].get("file"):
        verdict = Verdict.FAIL if visit.left_by not in (None, ABORT_EVENT) else Verdict.PASS
        detail = "no signature" if verdict is Verdict.FAIL else "no signature owed"
        return Check("signature", verdict, 0.0 if verdict is Verdict.FAIL else 1.0, RULES, detail)
    path = part.folder / str(rows[-1]["file"])
    share = ink_share(path.read_bytes()) if path.is_file() else None
    if share is None:
        return Check("signature", Verdict.FAIL, 0.0, SIGNATURE_MODEL, "unreadable signature", span)
    if share < MIN_INK:
        return Check(
            "signature",
            Verdict.FAIL,
            0.0,
            SIGNATURE_MODEL,
            "the signature is blank",
            span,
            {"ink": share},
        )
    return Check(
        "signature",
        Verdict.PASS,
        1.0,
        SIGNATURE_MODEL,
        f"signed ({share:.1%} ink)",
        measures={"ink": share},
    )


def needs_signature(flow: Flow, visit: StepSpan) -> bool:
    """Whether a step's flow definition asks for a signature."""
    return EvidenceKind.SIGNATURE_IMAGE.value in flow.step(visit.name).evidence
