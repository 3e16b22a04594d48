"""The inspection accuracy benchmark's results as Markdown: per check, the targets, the cost."""

from __future__ import annotations

import time
from importlib.metadata import version

from .accuracy import Confusion, Evaluation, Measured
from .accuracy_set import NO_MANDARIN_MODEL
from .report import _machine

TARGET_PRECISION = 0.9
#: The checks that find an absent face or a missing confirmation: none may be missed.
MUST_NOT_MISS = (
    "customer_face",
    "customer_left_picture",
    "kiosk_audio",
    "confirmation_speech",
    "evidence",
)
#: How many misses or false alarms a cell lists before "and N more".
LISTED = 4


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _listed(items: list[str]) -> str:
    shown = "; ".join(items[:LISTED])
    return shown + (f"; and {len(items) - LISTED} more" if len(items) > LISTED else "")


def meets(name: str, counts: Confusion) -> str:
    """ "yes", "no: why", or "-" (nothing to judge) against the check's targets."""
    why = []
    if counts.precision is not None and counts.precision < TARGET_PRECISION:
        why.append(f"precision {counts.precision:.2f}")
    if name in MUST_NOT_MISS and counts.fn:
        why.append(f"{counts.fn} missed")
    if why:
        return "no: " + ", ".join(why)
    return "-" if counts.precision is None and counts.recall is None else "yes"


def _check_rows(evaluation: Evaluation) -> list[str]:
    lines = [
        "| check | TP | FP | FN | TN | not judged | precision | recall | target "
        "| met | missed | false alarms |",
        "|---" * 12 + "|",
    ]
    for name, c in evaluation.table.items():
        target = f"P ≥ {TARGET_PRECISION:g}" + (", R = 1" if name in MUST_NOT_MISS else "")
        cells = [
            f"`{name}`",
            str(c.tp),
            str(c.fp),
            str(c.fn),
            str(c.tn),
            f"{c.not_judged} ({'; '.join(sorted(c.unjudged_why))})" if c.not_judged else "0",
            _share(c.precision),
            _share(c.recall),
            target,
            meets(name, c),
            _listed(c.missed) or "-",
            _listed(c.false_alarms) or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _per_minute(cpu_s: float, recording_s: float) -> float:
    return cpu_s / (recording_s / 60) if recording_s else 0.0


def _cost_rows(measured: tuple[Measured, ...]) -> list[str]:
    recording = sum(m.report.duration_s for m in measured)
    inspect = sum(m.inspect_cpu_s for m in measured)
    decode = sum(m.decode_cpu_s for m in measured)
    wall = sum(m.inspect_wall_s for m in measured)
    ratios = sorted(m.inspect_cpu_s / m.decode_cpu_s for m in measured if m.decode_cpu_s)
    spread = f"{ratios[0]:.1f}-{ratios[-1]:.1f}" if ratios else "-"
    ratio = f"{inspect / decode:.1f}" if decode else "-"
    return [
        "| measure | CPU s per minute of recording | note |",
        "|---|---|---|",
        f"| inspection (`inspect_folder`: read, sample, every check) "
        f"| {_per_minute(inspect, recording):.2f} "
        f"| wall {_per_minute(wall, recording):.2f} s per minute |",
        f"| baseline: decoding every frame of the part's four tracks with PyAV "
        f"| {_per_minute(decode, recording):.2f} | same parts, same run |",
        f"| inspection ÷ baseline | {ratio} | per part: {spread} |",
    ]


def _sample_rows(measured: tuple[Measured, ...]) -> list[str]:
    lines = [
        "| sample | language | what happens | problems labelled | flagged | inspection CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for m in measured:
        labelled = "; ".join(
            f"{check} @ {', '.join(sorted(places))}"
            for check, places in sorted(m.sample.problems.items())
        )
        cells = [
            m.sample.name,
            m.sample.language,
            m.sample.what,
            labelled or "none",
            "; ".join(m.flagged) or "nothing",
            f"{m.inspect_cpu_s:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _summary(evaluation: Evaluation) -> list[str]:
    table = evaluation.table
    strict = [n for n in MUST_NOT_MISS if n in table]
    missed = sum(table[n].fn for n in strict)
    low = [
        n for n, c in table.items() if c.precision is not None and c.precision < TARGET_PRECISION
    ]
    lines = [
        f"- No absent face or missing confirmation missed (recall 1.0 of "
        f"{', '.join(f'`{n}`' for n in strict)}): "
        + ("**yes**" if not missed else f"**no**, {missed} missed"),
        f"- Precision ≥ {TARGET_PRECISION:g} for every check: "
        + ("**yes**" if not low else "**no**: " + ", ".join(f"`{n}`" for n in low)),
    ]
    unjudged = sum(c.not_judged for c in table.values())
    if unjudged:
        lines.append(
            f"- {unjudged} place(s) honestly left to a person ({NO_MANDARIN_MODEL}): "
            "counted apart, neither found nor missed."
        )
    if evaluation.not_made:
        names = ", ".join(f"`{n}`" for n in evaluation.not_made)
        lines.append(
            f"- Labelled but not made by this inspection (not in the code at this run): {names}."
        )
    return lines


def render(evaluation: Evaluation, *, elapsed_s: float) -> str:
    """The whole report as Markdown."""
    measured = evaluation.measured
    recording = sum(m.report.duration_s for m in measured)
    models = sorted({f"{m['name']} {m['version']}" for x in measured for m in x.report.models})
    return "\n".join(
        [
            "# Inspection accuracy: every check on a labelled set of constructed parts",
            "",
            f"{time.strftime('%Y-%m-%d %H:%M')}; {_machine()}; PyAV {version('av')}; "
            f"judged by {', '.join(models)}. {len(measured)} parts, {recording:.0f} s of "
            f"recording, {elapsed_s:.0f} s in all. Shared, noisy machine: read the ratio.",
            "",
            "## Against the targets",
            "",
            *_summary(evaluation),
            "",
            "## Per check",
            "",
            *_check_rows(evaluation),
            "",
            "## What inspection costs",
            "",
            *_cost_rows(measured),
            "",
            "## The set",
            "",
            *_sample_rows(measured),
            "",
            "## How it was measured",
            "",
            "- Each part is built by `bench.constructed` (a real, signed wealth_purchase part "
            "of 37 s, 45 s with the identity step: VP8 320x240 10 fps and Opus, "
            "scikit-image's astronaut photograph as the face on a noisy wall, an LFW face "
            "as another person's ID photo, espeak-ng speaking the disclosure and the "
            "customer) from "
            "the sample's `Script`; its label says, per check, the steps (or `part`) where "
            "a problem was put. The labels follow from the construction, not from the checks.",
            "- One outcome per check the report made, at its step or of the whole part; a "
            "check's positive is *flagged* (fail or needs_review). A labelled problem where "
            "the report made no such check counts as missed. A needs_review that the sample "
            "says cannot be judged (Mandarin speech without a Mandarin model) is counted as "
            "*not judged*; a pass or a fail there is counted as usual.",
            "- CPU: `time.process_time()` of this process (every thread, OpenCV's "
            "included) around `inspection.inspect_folder` and around the baseline, decoding "
            "every frame of the part's four WebM files (`bench.senders.decode_files`), "
            "measured one after the other on each part. The next part is built meanwhile "
            "in a worker process, so both figures share the same load.",
        ]
    )
