"""What the post-call inspection of a recorded part costs: CPU seconds per minute of recording.

    python -m bench.inspection_cost PART_FOLDER [--runs N]

Inspects the part's folder ``N`` times in this process (the report is made, never written:
``inspection.analyse.inspect_folder``), and prints JSON: the recording's length, the CPU
seconds of each run (user + system of every thread, OpenCV's included) and wall seconds,
and their median per minute of recording. The part must be a closed one with its manifest
(a ``dualrec demo`` run's recording will do).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

from inspection import inspect_folder
from inspection.recording import read_manifest
from workflow import get_flow, load_flows


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(folder: Path, runs: int) -> dict[str, object]:
    """Inspect ``folder`` ``runs`` times; the costs measured."""
    flow = get_flow(load_flows(), str(read_manifest(folder)["flow"]))
    cpu: list[float] = []
    wall: list[float] = []
    duration_s = 0.0
    for _ in range(runs):
        began_cpu, began = _cpu_s(), time.perf_counter()
        report = inspect_folder(folder, flow)
        cpu.append(_cpu_s() - began_cpu)
        wall.append(time.perf_counter() - began)
        duration_s = report.duration_s
    minutes = duration_s / 60
    return {
        "part": str(folder),
        "recording_s": round(duration_s, 2),
        "runs": runs,
        "cpu_s": [round(c, 2) for c in cpu],
        "wall_s": [round(w, 2) for w in wall],
        "cpu_s_per_recording_minute": round(statistics.median(cpu) / minutes, 2),
        "wall_s_per_recording_minute": round(statistics.median(wall) / minutes, 2),
    }


def main() -> None:
    """Measure the part given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.folder, args.runs), indent=1))


if __name__ == "__main__":
    main()
