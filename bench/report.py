"""The benchmark's results: one record per run, rendered as Markdown tables."""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .loop_tracks import PartyLoop
from .measure import GUARD_S, PAIR_S, RunFigures

TARGET_SESSIONS_PER_CORE = 8.0
TARGET_AV_MS = 40.0
TARGET_RATIO = 3.0
#: A server whose loop runs its timers later than this (p99) no longer keeps up.
MAX_P99_MS = 100.0


def senders_lag_p99(
    senders: dict[str, Any] | None, window: tuple[float, float] | None
) -> float | None:
    """The senders' own event-loop lag (p99, ms) over the window, if they measured it."""
    if window is None or not senders:
        return None
    lags = sorted(late for at, late in senders.get("loop_lag", []) if window[0] <= at <= window[1])
    return 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else None


@dataclass
class RunResult:
    """What one run (a build, N calls) measured."""

    build: str
    n: int
    gate: str = ""
    window: tuple[float, float] | None = None
    machine_busy: float | None = None
    server_cpu: float | None = None
    sender_cpu: float | None = None
    lag: dict[str, float] = field(default_factory=dict)
    lag_after: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    senders: dict[str, Any] | None = None
    figures: RunFigures | None = None
    notes: list[str] = field(default_factory=list)
    log_errors: int = 0
    log_lines: list[str] = field(default_factory=list)
    data_dir: str = ""

    @property
    def per_session(self) -> float | None:
        """Server CPU per session, % of one core."""
        return None if self.server_cpu is None else self.server_cpu / self.n

    @property
    def sessions_per_core(self) -> float | None:
        """How many sessions one core would carry at this cost."""
        per = self.per_session
        return None if not per else 100.0 / per

    @property
    def sender_lag_p99(self) -> float | None:
        """The senders' own event-loop lag (p99, ms) over the window."""
        return senders_lag_p99(self.senders, self.window)

    def kept_up(self) -> str:
        """Kept up: loop lag p99 under 100 ms, under 1 % dropped, every call verified."""
        reasons = []
        p99 = self.lag.get("p99_ms")
        if p99 is None:
            return "-"
        if p99 >= MAX_P99_MS:
            reasons.append(f"lag p99 {p99:.0f} ms")
        figures = self.figures
        if figures is not None and figures.sent and figures.dropped > 0.01 * figures.sent:
            reasons.append(f"{100 * figures.dropped / figures.sent:.0f} % dropped")
        if self.verified() < self.n:
            reasons.append(f"{self.n - self.verified()} call(s) not verified")
        return "yes" if not reasons else "no: " + ", ".join(reasons)

    def calls(self) -> list[dict[str, Any]]:
        """One record per call: the agent's (dualrec) or the pair's (plain)."""
        records = (self.senders or {}).get("records", [])
        return [r for r in records if r["role"] in ("agent", "pair")]

    def verified(self) -> int:
        """Calls whose recording was closed and verified."""
        return sum(1 for r in self.calls() if r.get("verify_ok"))

    def call_lengths(self) -> list[float]:
        """Seconds from the start gate to each call's hang-up."""
        start = ((self.senders or {}).get("gate") or {}).get("released_at")
        if start is None:
            return []
        return [float(r["hangup_at"]) - start for r in self.calls() if r.get("hangup_at")]

    def times(self, key: str) -> list[float]:
        """Per-call seconds from hang-up (``manifest_s`` or ``verified_s``)."""
        return [float(r[key]) for r in self.calls() if r.get(key) is not None]


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.{digits}f} / {max(values):.{digits}f}"


def _dropped(figures: RunFigures | None) -> str:
    if figures is None or figures.sent == 0:
        return "-"
    share = 100 * figures.dropped / figures.sent
    return f"{figures.dropped} of {figures.sent} ({share:.2f} %)"


def _av(figures: RunFigures | None) -> tuple[float | None, float | None]:
    if figures is None or not figures.offsets_ms:
        return None, None
    magnitudes = [abs(o) for o in figures.offsets_ms]
    return max(magnitudes), statistics.fmean(magnitudes)


def _row(r: RunResult) -> str:
    worst, mean = _av(r.figures)
    lag = f"{_f(r.lag.get('max_ms'), 0)} / {_f(r.lag.get('p99_ms'), 0)}" if r.lag else "-"
    if r.lag_after:
        lag += f" (after: {_f(r.lag_after.get('max_ms'), 0)})"
    figures = r.figures
    unmatched = f" ({figures.unmatched_parties} unmatched)" if figures and (
        figures.unmatched_parties) else ""  # fmt: skip
    cells = [
        r.build,
        str(r.n),
        f"{r.verified()}/{r.n}",
        _f(r.server_cpu),
        _f(r.per_session),
        _f(r.sessions_per_core),
        r.kept_up(),
        _dropped(figures),
        lag,
        f"{_f(r.sender_cpu)} ({_f(r.sender_lag_p99, 0)})",
        _f(r.machine_busy, 0),
        f"{r.peak_rss_mb:.0f}",
        _spread(r.call_lengths(), 1),
        _spread(r.times("manifest_s")),
        _spread(r.times("verified_s")),
        f"{_f(worst)} / {_f(mean)}{unmatched}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| build | N | verified calls | server CPU % | CPU % per session | sessions per core "
    "| kept up | frames dropped | server loop lag max / p99 ms (after the window: max) "
    "| senders CPU % (loop lag "
    "p99 ms) | machine busy % of all cores | server peak RSS MB | start → hang-up s "
    "(median / max) | hang-up → closed s "
    "(median / max) | hang-up → verified s (median / max) | A/V max / mean abs ms |\n"
    + "|---" * 16
    + "|"
)


def _pairs(results: list[RunResult]) -> list[tuple[int, RunResult, RunResult]]:
    by = {(r.build, r.n): r for r in results}
    ns = sorted({r.n for r in results})
    return [(n, by[("dualrec", n)], by[("plain", n)]) for n in ns if ("plain", n) in by and (
        "dualrec", n) in by]  # fmt: skip


def _ratios(results: list[RunResult]) -> list[str]:
    lines = [
        "| N | CPU per session, dualrec ÷ plain | sessions per core, dualrec ÷ plain "
        f"| ≥ {TARGET_RATIO:g}x plain | note |",
        "|---|---|---|---|---|",
    ]
    for n, d, p in _pairs(results):
        if d.per_session and p.per_session and d.sessions_per_core and p.sessions_per_core:
            cpu = d.per_session / p.per_session
            spc = d.sessions_per_core / p.sessions_per_core
            met = "yes" if spc >= TARGET_RATIO else "no"
            note = ""
            if p.kept_up() != "yes" or d.kept_up() != "yes":
                behind = [b for b in (d, p) if b.kept_up() != "yes"]
                note = "; ".join(f"{b.build} did not keep up ({b.kept_up()[4:]})" for b in behind)
                if "lag p99" in p.kept_up():
                    note += "; plain's loop was saturated: its CPU per session is a floor"
            lines.append(f"| {n} | {cpu:.2f} | {spc:.1f}x | {met} | {note} |")
        else:
            lines.append(f"| {n} | - | - | not measured | |")
    return lines


def _targets(results: list[RunResult]) -> list[str]:
    lines = [
        f"| N | ≥ {TARGET_SESSIONS_PER_CORE:g} sessions per core | no dropped frame "
        f"| max abs A/V ≤ {TARGET_AV_MS:g} ms | every call verified |",
        "|---|---|---|---|---|",
    ]
    for r in (r for r in results if r.build == "dualrec"):
        spc, (worst, _) = r.sessions_per_core, _av(r.figures)
        cells = [
            "-" if spc is None else ("yes" if spc >= TARGET_SESSIONS_PER_CORE else "no"),
            "-" if r.figures is None or not r.figures.sent else (
                "yes" if r.figures.dropped == 0 else "no"),
            "-" if worst is None else ("yes" if worst <= TARGET_AV_MS else "no"),
            "yes" if r.verified() == r.n else "no",
        ]  # fmt: skip
        lines.append(f"| {r.n} | " + " | ".join(cells) + " |")
    return lines


def _problems(results: list[RunResult]) -> list[str]:
    lines = []
    for r in results:
        found = list(r.notes)
        cancelled = (r.senders or {}).get("cancelled")
        if cancelled:
            found.append(f"{cancelled} call(s) cancelled: still running long after their end")
        if r.gate and r.gate.split("/")[0] != r.gate.split("/")[1]:
            found.append(f"only {r.gate} calls reached the start gate")
        for call in (r.senders or {}).get("records", []):
            for key in ("error", "verify_error"):
                if call.get(key):
                    found.append(f"call {call.get('session_id') or '?'}: {call[key]}")
            for problem in call.get("verify_problems") or []:
                found.append(f"verify: {problem}")
            for problem in call.get("recorder_errors") or []:
                found.append(f"recorder: {problem}")
        if r.figures is not None:
            if r.build == "dualrec":
                found.append(
                    f"timeline: within a track, frames moved by up to "
                    f"{r.figures.timeline_spread_ms:.0f} ms during a call; "
                    f"{r.figures.squeezed} frame(s) written less than a quarter frame after "
                    "the previous one"
                )
                if r.figures.damaged:
                    found.append(
                        f"{r.figures.damaged} recorded frame(s) match no frame that was sent "
                        "(incomplete or damaged; counted as dropped)"
                    )
            found += r.figures.problems
        if r.log_errors:
            found.append(f"{r.log_errors} ERROR/Traceback line(s) in the server log, first:")
            found += [f"    `{line[:200]}`" for line in r.log_lines]
        if found:
            lines.append(f"- **{r.build}, N={r.n}**:")
            lines += [f"  - {item}" for item in found[:12]]
            if len(found) > 12:
                lines.append(f"  - … and {len(found) - 12} more")
    return lines or ["- none"]


def publish(text: str, out: str) -> None:
    """Print a benchmark's Markdown report and write it to ``out`` (its folder made if need be)."""
    print(text)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text + "\n")


def _machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    import os

    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def render(
    results: list[RunResult], *, seconds: float, elapsed_s: float, loops: dict[str, PartyLoop]
) -> str:
    """The whole report as Markdown."""
    kbps = ", ".join(f"{p} {loop.video_kbps:.0f} kbps" for p, loop in loops.items())
    lines = [
        "# Recording benchmark: dualrec vs the plain aiortc build",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}; {_machine()}; aiortc {version('aiortc')}, "
        f"PyAV {version('av')}. N concurrent calls of {seconds:g} s per build, both builds "
        f"in the same run ({elapsed_s:.0f} s in all). Shared, noisy machine: read the ratios.",
        "",
        HEADER,
        *(_row(r) for r in results),
        "",
        "## dualrec vs plain, measured in the same run",
        "",
        *_ratios(results),
        "",
        "## dualrec against its targets",
        "",
        *_targets(results),
        "",
        "## How it was measured",
        "",
        "- Server: `python -m dualrec serve --segment-seconds 10` or `python -m "
        "bench.plain_server` (aiortc MediaRelay, one MediaRecorder(.mp4) per track, "
        "forwarding by decode and re-encode), each in its own process. Senders: "
        "`bench.senders`, another process, N kiosk + agent pairs as real aiortc peers over "
        "the local interfaces (dualrec: Kiosk and ScriptedAgent on the real protocol).",
        "- CPU: utime + stime from /proc/PID/stat over the steady window (all N calls up: "
        f"{WINDOW_TEXT}), as % of one core; sessions per core = 100 / (CPU % per session). "
        "Machine busy: /proc/stat, every process, % of all cores. Kept up: server loop lag "
        f"p99 under {MAX_P99_MS:g} ms, under 1 % of frames dropped and every call verified; "
        "a build that does "
        "not keep up cannot use more CPU, so its CPU per session is only a floor.",
        "- Loop lag: each process sleeps 50 ms at a time and records how late it wakes "
        "(dualrec: its own /healthz; plain server and senders: the same probe); 'after' is "
        "the server's worst lag from the end of the window to the end of the last call "
        "(hang-ups, recordings closed).",
        f"- Media: a pre-encoded 2 s loop replayed as av.Packets (VP8 640x480 15 fps, "
        f"{kbps}; Opus 20 ms), so the senders only packetize. Pre-encoded media cannot "
        "honour keyframe requests (PLIs): keyframes come only at loop starts, every 2 s, so "
        "a recording's video can start up to 2 s after its audio.",
        "- Received media is counted at the senders' receivers by a tap, never decoded.",
        "- Frames dropped: per track, from its first recorded frame to "
        f"{GUARD_S:g} s before the hang-up, the frames the sender sent vs the frames in the "
        "files. dualrec: packets of the WebM segments, each identified by its bytes (every "
        "frame of the loop is unique) and its time, so a frame the timeline moved still "
        "counts; how far it moved is reported under Problems. Plain: decoded frames of "
        "each MP4, placed by the file's first flash or beep; AAC audio in 20 ms "
        "equivalents (±1 per track is rounding).",
        "- A/V: flash (video) and 1 kHz beep (audio) at every loop start, at the same "
        "instant for all tracks (shared epoch); offsets beep − flash in each party's "
        f"recording, paired within ±{PAIR_S:g} s (offsets are modulo the 2 s period). The "
        "plain build writes each track to its own MP4 starting at 0 (no common timeline).",
        "- Start → hang-up: from the start gate (every call has media both ways) to each "
        "hang-up. dualrec's scripted agent sets it: five workflow steps of --seconds / 6, "
        "each after the step's evidence has arrived, and a last pause; plain hangs up "
        "after --seconds.",
        "- Hang-up → closed: dualrec until manifest.json exists; plain until POST /hangup "
        "returns (recorders stopped). → verified: dualrec until media.verify says ok; plain "
        "until every MP4 decodes. Verification runs in the senders process, all calls at "
        "once, so the later calls queue behind the others.",
        "",
        "## Problems seen",
        "",
        *_problems(results),
    ]
    return "\n".join(lines)


WINDOW_TEXT = "from 1 s after the last call started to 0.5 s before the first hang-up"
