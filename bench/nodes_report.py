"""The several-nodes benchmark's results: one record per node and per run, as Markdown."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from .claims import ClaimFigures, render_claims
from .loop_tracks import PartyLoop
from .measure import GUARD_S, RunFigures
from .report import WINDOW_TEXT, _machine, senders_lag_p99

#: Layout -> (nodes, what it is).
LAYOUTS = {
    "one": (1, "one node: every kiosk and agent on node1"),
    "same": (2, "two nodes: call i's kiosk and agent both on node (i mod 2)"),
    "cross": (2, "two nodes: call i's kiosk on node (i mod 2), its agent on the other"),
}


@dataclass
class NodeResult:
    """What one node measured in one run."""

    name: str
    port: int
    cpu: float | None = None
    lag: dict[str, float] = field(default_factory=dict)
    lag_after: dict[str, float] = field(default_factory=dict)
    #: The node's live calls (its /healthz ``sessions``) when the window opened.
    calls_in_window: int | None = None
    peak_rss_mb: float = 0.0
    figures: RunFigures | None = None
    notes: list[str] = field(default_factory=list)
    log_errors: int = 0
    log_lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """Its HTTP address."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        """Its signalling address, as the senders were given it."""
        return f"ws://127.0.0.1:{self.port}/ws"


@dataclass(frozen=True)
class Pairing:
    """One call's pairing, from the clients' side: the agent's accept to each matched."""

    session_id: str
    cross: bool
    agent_s: float
    kiosk_s: float | None


@dataclass
class NodesRun:
    """What one layout with N calls measured."""

    layout: str
    n: int
    nodes: list[NodeResult] = field(default_factory=list)
    gate: str = ""
    window: tuple[float, float] | None = None
    machine_busy: float | None = None
    sender_cpu: float | None = None
    senders: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    data_dir: str = ""

    def records(self) -> list[dict[str, Any]]:
        """The senders' records, kiosks' and agents'."""
        records: list[dict[str, Any]] = (self.senders or {}).get("records", [])
        return records

    def kiosk_urls(self) -> dict[str, str]:
        """Session -> the URL its kiosk used (the node that owns the call)."""
        return {
            r["session_id"]: r["url"]
            for r in self.records()
            if r["role"] == "kiosk" and r.get("session_id")
        }

    def records_owned_by(self, node: NodeResult) -> list[dict[str, Any]]:
        """The records of the calls whose kiosk was on ``node``."""
        mine = {sid for sid, url in self.kiosk_urls().items() if url == node.ws}
        return [r for r in self.records() if r.get("session_id") in mine]

    def owned(self, node: NodeResult) -> int:
        """Calls whose kiosk was on ``node``."""
        return sum(1 for r in self.records_owned_by(node) if r["role"] == "agent")

    def verified(self, node: NodeResult | None = None) -> int:
        """Calls verified (of ``node``, or of all)."""
        records = self.records() if node is None else self.records_owned_by(node)
        return sum(1 for r in records if r["role"] == "agent" and r.get("verify_ok"))

    def pairings(self) -> list[Pairing]:
        """Every call paired: accept → the agent's matched, and → the kiosk's."""
        kiosks = {r["session_id"]: r for r in self.records() if r["role"] == "kiosk"}
        found = []
        for agent in self.records():
            sid, accepted = agent.get("session_id"), agent.get("accepted_at")
            if agent["role"] != "agent" or not sid or not accepted or not agent.get("matched_at"):
                continue
            kiosk = kiosks.get(sid, {})
            kiosk_at = kiosk.get("matched_at")
            found.append(
                Pairing(
                    sid,
                    cross=kiosk.get("url") != agent["url"],
                    agent_s=agent["matched_at"] - accepted,
                    kiosk_s=None if kiosk_at is None else kiosk_at - accepted,
                )
            )
        return found

    def total_cpu(self) -> float | None:
        """Every node's CPU, summed (% of one core)."""
        cpus = [r.cpu for r in self.nodes if r.cpu is not None]
        return sum(cpus) if cpus else None

    def busiest_cpu(self) -> float | None:
        """The busiest node's CPU."""
        return max((r.cpu for r in self.nodes if r.cpu is not None), default=None)

    def worst_p99(self) -> float | None:
        """The worst node's loop lag p99 (ms)."""
        return max((r.lag["p99_ms"] for r in self.nodes if "p99_ms" in r.lag), default=None)

    def dropped(self) -> tuple[int, int]:
        """Frames (dropped, sent) over every node's calls."""
        figures = [r.figures for r in self.nodes if r.figures is not None]
        return sum(f.dropped for f in figures), sum(f.sent for f in figures)

    def sender_lag_p99(self) -> float | None:
        """The senders' own event-loop lag (p99, ms) over the window."""
        return senders_lag_p99(self.senders, self.window)

    def summary(self) -> str:
        """A progress line."""
        cpus = ", ".join(f"{r.name} {r.cpu or 0:.0f} %" for r in self.nodes)
        return f"CPU {cpus}; senders {self.sender_cpu or 0:.0f} %; gate {self.gate} " + " ".join(
            self.notes
        )


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):.1f} / {max(ms):.1f}"


def _dropped(dropped: int, sent: int) -> str:
    return "-" if not sent else f"{dropped} of {sent} ({100 * dropped / sent:.2f} %)"


def _lag(lag: dict[str, float], after: dict[str, float]) -> str:
    if not lag:
        return "-"
    text = f"{_f(lag.get('p99_ms'), 0)} / {_f(lag.get('max_ms'), 0)}"
    return text + (f" (after: {_f(after.get('max_ms'), 0)})" if after else "")


def _node_rows(runs: list[NodesRun]) -> list[str]:
    lines = [
        "| layout | N | node | calls owned (live in the window) | verified | CPU % of one core "
        "| CPU % per call | loop lag p99 / max ms (after the window: max) | frames dropped "
        "| peak RSS MB | machine busy % of all cores | senders CPU % (loop lag p99 ms) |",
        "|---" * 12 + "|",
    ]
    for run in runs:
        for node in run.nodes:
            owned = run.owned(node)
            figures = node.figures
            cells = [
                run.layout,
                str(run.n),
                node.name,
                f"{owned} ({'-' if node.calls_in_window is None else node.calls_in_window})",
                f"{run.verified(node)}/{owned}",
                _f(node.cpu),
                _f(None if node.cpu is None or not owned else node.cpu / owned),
                _lag(node.lag, node.lag_after),
                "-" if figures is None else _dropped(figures.dropped, figures.sent),
                f"{node.peak_rss_mb:.0f}",
                _f(run.machine_busy, 0),
                f"{_f(run.sender_cpu)} ({_f(run.sender_lag_p99(), 0)})",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ratio(two: float | None, one: float | None, digits: int = 2) -> str:
    return "-" if two is None or not one else f"{two / one:.{digits}f}"


def _ratios(runs: list[NodesRun]) -> list[str]:
    lines = [
        "| N | layout | nodes' CPU, summed ÷ one node's | busiest node's CPU ÷ one node's "
        "| worst loop lag p99 ÷ one node's | frames dropped: one node → two | calls verified: "
        "one node → two |",
        "|---|---|---|---|---|---|---|",
    ]
    base = {run.n: run for run in runs if run.layout == "one"}
    for run in runs:
        one = base.get(run.n)
        if run.layout == "one" or one is None:
            continue
        cells = [
            str(run.n),
            run.layout,
            _ratio(run.total_cpu(), one.total_cpu()),
            _ratio(run.busiest_cpu(), one.busiest_cpu()),
            _ratio(run.worst_p99(), one.worst_p99()),
            f"{_dropped(*one.dropped())} → {_dropped(*run.dropped())}",
            f"{one.verified()}/{one.n} → {run.verified()}/{run.n}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _pairing_rows(runs: list[NodesRun]) -> list[str]:
    lines = [
        "| layout | N | calls paired | accept → agent's matched, p50 / max ms "
        "| accept → kiosk's matched, p50 / max ms | agent's p50 ÷ one node's |",
        "|---|---|---|---|---|---|",
    ]
    base = {
        run.n: statistics.median([p.agent_s for p in run.pairings()])
        for run in runs
        if run.layout == "one" and run.pairings()
    }
    for run in runs:
        pairs = run.pairings()
        cross = sum(1 for p in pairs if p.cross)
        where = f"{len(pairs) - cross} on one node, {cross} across nodes"
        agent = [p.agent_s for p in pairs]
        kiosk = [p.kiosk_s for p in pairs if p.kiosk_s is not None]
        ratio = _ratio(statistics.median(agent) if agent else None, base.get(run.n))
        cells = [run.layout, str(run.n), where, _ms(agent), _ms(kiosk), ratio]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _problems(runs: list[NodesRun]) -> list[str]:
    lines = []
    for run in runs:
        found = list(run.notes)
        if run.gate and run.gate.split("/")[0] != run.gate.split("/")[1]:
            found.append(f"only {run.gate} calls reached the start gate")
        if (run.senders or {}).get("cancelled"):
            found.append(f"{run.senders and run.senders['cancelled']} call(s) cancelled")
        for call in run.records():
            for key in ("error", "verify_error"):
                if call.get(key):
                    found.append(f"call {call.get('session_id') or '?'}: {call[key]}")
            found += [f"verify: {problem}" for problem in call.get("verify_problems") or []]
        for node in run.nodes:
            found += [f"{node.name}: {note}" for note in node.notes]
            if node.figures is not None:
                found += [f"{node.name}: {problem}" for problem in node.figures.problems]
            if node.log_errors:
                found.append(f"{node.name}: {node.log_errors} ERROR/Traceback line(s), first:")
                found += [f"    `{line[:200]}`" for line in node.log_lines[:3]]
        if found:
            lines.append(f"- **{run.layout}, N={run.n}**:")
            lines += [f"  - {item}" for item in found[:12]]
            if len(found) > 12:
                lines.append(f"  - … and {len(found) - 12} more")
    return lines or ["- none"]


def render(
    runs: list[NodesRun],
    claims: ClaimFigures | None,
    *,
    seconds: float,
    elapsed_s: float,
    loops: dict[str, PartyLoop],
) -> str:
    """The whole report as Markdown."""
    kbps = ", ".join(f"{p} {loop.video_kbps:.0f} kbps" for p, loop in loops.items())
    lines = [
        "# Several nodes: the same calls on one node and on two",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}; {_machine()}; aiortc {version('aiortc')}. "
        f"N concurrent calls of {seconds:g} s per layout, every layout in the same run "
        f"({elapsed_s:.0f} s in all). Shared, noisy machine: read the ratios. Layouts: "
        + "; ".join(f"`{name}`, {text}" for name, (_, text) in LAYOUTS.items())
        + ".",
        "",
        "## Per node",
        "",
        *_node_rows(runs),
        "",
        "## Two nodes against one, the same N in the same run",
        "",
        *_ratios(runs),
        "",
        "## Pairing: accept → matched, from the clients' side",
        "",
        *_pairing_rows(runs),
        "",
        "## The Lua claim from 3 processes",
        "",
        *(render_claims(claims) if claims is not None else ["not run"]),
        "",
        "## How it was measured",
        "",
        "- Nodes: `python -m dualrec serve --segment-seconds 10 --redis-url URL --node-id ID "
        "--database-url postgresql://...`, each its own process, on one data folder, a "
        "PostgreSQL database made for each layout and N (dropped after) and a Redis database "
        "of the benchmark's own (flushed before each layout and after the run). No `dualrec "
        "worker` runs: composites are queued, never made, so no node does post-call work. "
        "Senders: `bench.senders`, one process, as in the recording benchmark (bench/results.md): "
        f"N kiosk + agent pairs as real aiortc peers, pre-encoded media ({kbps}).",
        "- Placement: every kiosk and agent joins at once; kiosk i has a branch of its own "
        "and agent i accepts the offer of that branch (`bench.peers.BranchAgent`), so each "
        "agent takes its own call's kiosk and each call is owned by its kiosk's node, which "
        "runs its relay, workflow and recorder; "
        "the agent's media goes to that node, and in `cross` its signalling goes through its "
        "own node and a Redis stream. 'Calls owned' counts the calls by their kiosk's node; "
        "the node's own count of live calls (/healthz) at the window's start is in brackets.",
        "- CPU: utime + stime of each node's process group from /proc over the steady window "
        f"({WINDOW_TEXT}), as % of one core. Loop lag: each node's own /healthz (sleeps of "
        "50 ms, how late each wakes) over the window; 'after' up to the end of the last call. "
        "Machine busy: /proc/stat, every process (others' too), % of all cores.",
        "- Frames dropped, per node over the calls it owned: per track, from its first "
        f"recorded frame to {GUARD_S:g} s before the hang-up, frames sent vs frames in the "
        "WebM segments (each identified by its bytes), as bench/results.md. Verified: the "
        "senders ran media.verify on each recording after its hang-up.",
        "- Pairing: the agent's client stamps the `accept` that won (the last before "
        "`matched`) and the arrival of its `matched`; the kiosk's client (same process, same "
        "clock) the arrival of its own `matched`. Across nodes this includes the agent's "
        "node's Lua claim and the Redis stream hop to the owner and back. Every call is "
        "paired at the same time as the others (the offers reach the agents at most 4 times "
        "a second per node), so the figures include that contention and the senders' own "
        "loop lag (above).",
        "",
        "## Problems seen",
        "",
        *_problems(runs),
    ]
    return "\n".join(lines)
