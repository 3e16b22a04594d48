"""Counting an inspection's findings against a labelled sample: one outcome per check and place.

A check's positive is "flagged" (a fail or a needs-review). Each check the report made
(in a step, or of the whole part) is one outcome: true positive when the label says a
problem is there and the check flagged it, and so on; a labelled problem at a place
where the report made no such check is a miss. A needs-review that the sample says
cannot be judged (Mandarin speech with no Mandarin model) is counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from inspection import InspectionReport, Verdict

from .accuracy_set import PART, Sample


@dataclass(frozen=True)
class Outcome:
    """One check at one place of one sample: what the label says, what the check said."""

    sample: str
    where: str
    check: str
    expected: bool
    #: None: the report made no such check there.
    verdict: Verdict | None
    #: Why a needs-review here is not a finding (empty: it is one).
    unjudged: str = ""

    @property
    def flagged(self) -> bool:
        """The check found a problem (a fail or a needs-review)."""
        return self.verdict is not None and self.verdict is not Verdict.PASS

    @property
    def judged(self) -> bool:
        """False when the check honestly left it to a person for the sample's reason."""
        return not (self.unjudged and self.verdict is Verdict.NEEDS_REVIEW)

    @property
    def label(self) -> str:
        """Sample and place, for the lists of misses and false alarms."""
        said = "not made" if self.verdict is None else self.verdict.value
        return f"{self.sample} @ {self.where} ({said})"


def outcomes(sample: Sample, report: InspectionReport) -> list[Outcome]:
    """Every check of ``report`` against ``sample``'s label, and the labelled ones not made."""
    made = [(PART, check) for check in report.checks]
    made += [(step.name, check) for step in report.steps for check in step.checks]
    found = [
        Outcome(
            sample.name,
            where,
            check.name,
            sample.expects(check.name, where),
            check.verdict,
            sample.unjudged.get(check.name, ""),
        )
        for where, check in made
    ]
    seen = {(o.check, o.where) for o in found}
    found += [
        Outcome(sample.name, where, name, True, None)
        for name, places in sample.problems.items()
        for where in sorted(places)
        if (name, where) not in seen
    ]
    return found


@dataclass
class Confusion:
    """One check's counts over the set."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    not_judged: int = 0
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    unjudged_why: set[str] = field(default_factory=set)

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        if not outcome.judged:
            self.not_judged += 1
            self.unjudged_why.add(outcome.unjudged)
        elif outcome.expected and outcome.flagged:
            self.tp += 1
        elif outcome.expected:
            self.fn += 1
            self.missed.append(outcome.label)
        elif outcome.flagged:
            self.fp += 1
            self.false_alarms.append(outcome.label)
        else:
            self.tn += 1

    @property
    def precision(self) -> float | None:
        """Flagged places that hold a problem (None: nothing flagged)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """Problems that were flagged (None: the set holds none for this check)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def confusion(found: Iterable[Outcome], absent: Iterable[str] = ()) -> dict[str, Confusion]:
    """Per check name, its counts; checks in ``absent`` (not made by this inspection) left out."""
    skip = set(absent)
    table: dict[str, Confusion] = {}
    for outcome in found:
        if outcome.check not in skip:
            table.setdefault(outcome.check, Confusion()).add(outcome)
    return dict(sorted(table.items()))


def not_made(found: Iterable[Outcome]) -> list[str]:
    """Labelled checks that the inspection made nowhere in the set (not in this code yet)."""
    outcomes_ = list(found)
    made = {o.check for o in outcomes_ if o.verdict is not None}
    return sorted({o.check for o in outcomes_} - made)


@dataclass(frozen=True)
class Measured:
    """One sample inspected: its report, what each check said, and the CPU it took."""

    sample: Sample
    report: InspectionReport
    outcomes: tuple[Outcome, ...]
    inspect_cpu_s: float
    inspect_wall_s: float
    #: The baseline: decoding every frame of the part's tracks.
    decode_cpu_s: float

    @property
    def flagged(self) -> list[str]:
        """ "check @ place" for each check that flagged, for the set's table."""
        return [f"{o.check} @ {o.where}" for o in self.outcomes if o.flagged]


@dataclass(frozen=True)
class Evaluation:
    """The whole set: every sample measured, and each check's counts."""

    measured: tuple[Measured, ...]
    table: dict[str, Confusion]
    #: Labelled checks this inspection does not make (not in the code yet).
    not_made: tuple[str, ...]
