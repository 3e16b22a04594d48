"""What every check says: a verdict, the time ranges that caused it, who judged it, a score."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self


class Verdict(StrEnum):
    """A check's outcome; a fail outweighs a needs-review, which outweighs a pass."""

    PASS = "pass"
    NEEDS_REVIEW = "needs_review"
    FAIL = "fail"

    @property
    def weight(self) -> int:
        """0 for a pass, 1 for needs-review, 2 for a fail: the worst of several wins."""
        return list(Verdict).index(self)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of ``verdicts`` (a pass when there are none)."""
    return max(verdicts, key=lambda v: v.weight, default=Verdict.PASS)


@dataclass(frozen=True, slots=True)
class Span:
    """A time range of the recording part, in ms since its recording began."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise ValueError(f"a span ends ({self.end_ms}) before it starts ({self.start_ms})")

    @property
    def length_ms(self) -> int:
        """How long the span lasts."""
        return self.end_ms - self.start_ms

    def to_list(self) -> list[int]:
        """``[start_ms, end_ms]``, as the report stores it."""
        return [self.start_ms, self.end_ms]


@dataclass(frozen=True, slots=True)
class Model:
    """What judged a check: a model or a rule, with its version (and where it came from)."""

    name: str
    version: str
    #: The licence of a trained model's weights ("" for our own rules and code).
    licence: str = ""

    def to_dict(self) -> dict[str, str]:
        """The model as JSON-ready data."""
        data = {"name": self.name, "version": self.version}
        return {**data, "licence": self.licence} if self.licence else data

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        """A model from its JSON data (``to_dict``'s)."""
        return cls(str(data["name"]), str(data["version"]), str(data.get("licence", "")))


#: The model of checks made by plain rules on the session's records, not by a model.
RULES = Model("dualrec-rules", "1")


@dataclass(frozen=True, slots=True)
class Check:
    """One check of one step (or of the whole part): verdict, score in [0, 1], why."""

    name: str
    verdict: Verdict
    score: float
    model: Model
    detail: str
    spans: tuple[Span, ...] = ()
    #: Measurements behind the verdict (shares, seconds, rates), for auditors and tuning.
    measures: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"check {self.name}: score {self.score} is not in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "score": round(self.score, 3),
            "model": self.model.to_dict(),
            "detail": self.detail,
            "spans": [span.to_list() for span in self.spans],
            "measures": {k: round(v, 3) for k, v in self.measures.items()},
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        """A check from its JSON data (``to_dict``'s)."""
        return cls(
            name=str(data["name"]),
            verdict=Verdict(data["verdict"]),
            score=float(data["score"]),
            model=Model.parse(data["model"]),
            detail=str(data["detail"]),
            spans=tuple(Span(int(a), int(b)) for a, b in data.get("spans", [])),
            measures={str(k): float(v) for k, v in data.get("measures", {}).items()},
        )


def judge(
    name: str,
    model: Model,
    score: float,
    *,
    fail_below: float,
    review_below: float,
    detail: str,
    spans: Sequence[Span] = (),
    measures: dict[str, float] | None = None,
) -> Check:
    """A check whose verdict is read off its score against two thresholds."""
    score = min(1.0, max(0.0, score))
    if score < fail_below:
        verdict = Verdict.FAIL
    elif score < review_below:
        verdict = Verdict.NEEDS_REVIEW
    else:
        verdict = Verdict.PASS
    return Check(name, verdict, score, model, detail, tuple(spans), measures or {})
