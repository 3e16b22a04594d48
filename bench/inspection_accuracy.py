"""Inspection accuracy: each check's precision and recall on a labelled set, and its cost.

    python -m bench.inspection_accuracy [--only NAME,...] [--out bench/results-accuracy.md]

Builds every sample of ``bench.accuracy_set`` (real, signed, constructed parts), inspects
each with ``inspection.inspect_folder`` and counts, per check, true and false positives
and negatives against the sample's label (``bench.accuracy``). Also measures the
inspection's CPU seconds per minute of recording against a baseline measured on the same
parts in the same run: decoding every frame of their four tracks with PyAV. Nothing is
asserted: the figures are printed and written as Markdown.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from inspection import inspect_folder
from workflow import Flow, load_flows

from .accuracy import Evaluation, Measured, confusion, not_made, outcomes
from .accuracy_report import render
from .accuracy_set import Sample, by_name
from .constructed import Script, build
from .recording import progress
from .report import publish
from .senders import decode_files

FLOW = "wealth_purchase"


def build_part(folder: Path, script: Script) -> Path:
    """Build one sample's part (in a worker process; inspection does not need its key)."""
    return build(folder, Ed25519PrivateKey.generate(), script)


def decode_cpu_s(folder: Path) -> float:
    """CPU seconds to decode every frame of the part's tracks (the baseline)."""
    began = time.process_time()
    problems = decode_files([str(p) for p in sorted(folder.glob("*.webm"))])
    if problems:
        raise RuntimeError(f"{folder.name}: {'; '.join(problems)}")
    return time.process_time() - began


def measure(sample: Sample, folder: Path, flow: Flow) -> Measured:
    """Decode the part (baseline), then inspect it; the figures and outcomes."""
    decoded = decode_cpu_s(folder)
    began = time.perf_counter()
    report = inspect_folder(folder, flow)
    wall = time.perf_counter() - began
    return Measured(sample, report, tuple(outcomes(sample, report)), report.cpu_s, wall, decoded)


def run(samples: list[Sample], work: Path) -> list[Measured]:
    """Build the samples (one ahead, in a worker process) and measure each in turn."""
    flow = load_flows()[FLOW]
    done: list[Measured] = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        builds = [pool.submit(build_part, work / s.name, s.script) for s in samples]
        for sample, built in zip(samples, builds, strict=True):
            measured = measure(sample, built.result(), flow)
            done.append(measured)
            flags = ", ".join(measured.flagged) or "nothing"
            progress(f"{sample.name}: {measured.inspect_cpu_s:.1f} CPU s; flagged {flags}")
    return done


def evaluate(samples: list[Sample], work: Path) -> Evaluation:
    """Run the samples; their measurements and, per check, the confusion counts."""
    measured = run(samples, work)
    found = [o for m in measured for o in m.outcomes]
    absent = not_made(found)
    return Evaluation(tuple(measured), confusion(found, absent), tuple(absent))


def main() -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="sample names, comma-separated")
    parser.add_argument("--out", default="bench/results-accuracy.md", help="Markdown report")
    args = parser.parse_args()
    samples = by_name([n for n in args.only.split(",") if n])
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dualrec-accuracy-") as work:
        evaluation = evaluate(samples, Path(work))
    publish(render(evaluation, elapsed_s=time.monotonic() - began), args.out)
    progress(f"written to {args.out} ({time.monotonic() - began:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
