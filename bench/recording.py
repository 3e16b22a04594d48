"""Recording benchmark: dualrec against the plain aiortc build, 1 to 16 concurrent sessions.

    python -m bench.recording [--sessions 1,2,4,8,16] [--seconds 20] [--out bench/results.md]

For each N and each build (interleaved, so both see the same machine), the server runs
in its own process and N kiosk + agent pairs run in another (bench.senders), sending
pre-encoded media. Server CPU, event-loop lag and memory are measured over the steady
window when all N calls are up; the recordings are then analysed (frames dropped, A/V
offset) in two worker processes once every run is over. Nothing is asserted: figures
and ratios measured in the same run are printed and written as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

from storage import Database

from .loop_tracks import AGENT, KIOSK, encode_party
from .measure import analyse_in_pool
from .procs import Child, CpuSample, free_port, log_problems, loop_lag, rss_mb, wait_healthy
from .report import RunResult, publish, render

#: Seconds after the calls start before the steady window opens, and before the
#: first hang-up that it closes.
WARMUP_S = 1.0
COOLDOWN_S = 0.5
#: The server is killed above this resident size (the plain build queues decoded
#: frames without bound when it falls behind).
RSS_LIMIT_MB = 6000.0
#: Bounds on the senders: reaching the start gate, and finishing after it (their own
#: limits are 60 s and 60 s after the calls' end; these only catch a stuck process).
GATE_WAIT_S = 90.0
STOP_GRACE_S = 15.0
SENDERS_AFTER_GATE_S = 120.0


def progress(text: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def server_args(build: str, data_dir: Path, port: int) -> list[str]:
    """The server's command line."""
    if build == "dualrec":
        return ["-m", "dualrec", "serve", "--data-dir", str(data_dir), "--port", str(port),
                "--segment-seconds", "10", "--init"]  # fmt: skip
    return ["-m", "bench.plain_server", "--data-dir", str(data_dir), "--port", str(port)]


async def make_tokens(data_dir: Path, n: int) -> Path:
    """Kiosk and agent credentials in the server's SQLite file (as tests/e2e do)."""
    async with Database(f"sqlite:///{data_dir / 'dualrec.db'}") as db:
        kiosks = [await db.add_credential("kiosk", f"bench-K{i}", "BJ-001") for i in range(n)]
        agents = [await db.add_credential("agent", f"bench-A{i}") for i in range(n)]
    path = data_dir / "tokens.json"
    path.write_text(json.dumps({"kiosks": kiosks, "agents": agents}))
    return path


class Watch:
    """Follows the server's memory during a run and kills it above the limit."""

    def __init__(self, server: Child) -> None:
        self.server = server
        self.peak_mb = 0.0
        self.killed = False

    async def run(self) -> None:
        """Sample every half second until cancelled."""
        while self.server.process.returncode is None:
            with contextlib.suppress(OSError):
                self.peak_mb = max(self.peak_mb, rss_mb(self.server.pid))
            if self.peak_mb > RSS_LIMIT_MB and not self.killed:
                self.killed = True
                self.server.process.kill()
            await asyncio.sleep(0.5)


async def measure_window(
    result: RunResult, gate_at: float, seconds: float, server: Child, senders: Child, url: str
) -> None:
    """CPU of both processes and the server's loop lag over the steady window."""
    start, end = gate_at + WARMUP_S, gate_at + seconds - COOLDOWN_S
    await asyncio.sleep(max(0.0, start - time.time()))
    first = CpuSample.take(server.pid, senders.pid)
    await asyncio.sleep(max(0.0, end - time.time()))
    last = CpuSample.take(server.pid, senders.pid)
    result.window = (first.at, last.at)
    result.machine_busy = last.machine_busy_since(first)
    result.server_cpu = last.percent_since(first, server.pid)
    result.sender_cpu = last.percent_since(first, senders.pid)
    try:
        result.lag = await asyncio.wait_for(loop_lag(url, first.at), 30)
    except (TimeoutError, OSError, ValueError, KeyError) as exc:
        result.notes.append(f"no loop lag: {type(exc).__name__}")


async def run_once(build: str, n: int, seconds: float, work: Path, loops: Path) -> RunResult:
    """One build with N concurrent calls; returns what was measured (not yet analysed)."""
    result = RunResult(build, n)
    data_dir = work / f"{build}-{n:02d}"
    data_dir.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = await Child.start(
        build, server_args(build, data_dir, port), data_dir / "server.log",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    watch = Watch(server)
    watcher = asyncio.ensure_future(watch.run())
    senders: Child | None = None
    try:
        await wait_healthy(f"{base}/healthz")
        url = f"ws://127.0.0.1:{port}/ws" if build == "dualrec" else base
        extra = ["--tokens", str(await make_tokens(data_dir, n))] if build == "dualrec" else []
        out = data_dir / "senders.json"
        senders = await Child.start("senders", [
            "-m", "bench.senders", "--build", build, "--url", url, "--sessions", str(n),
            "--seconds", str(seconds), "--epoch", str(float(int(time.time()))),
            "--data-dir", str(data_dir), "--out", str(out), "--loops", str(loops), *extra,
        ], data_dir / "senders.log", stdout=asyncio.subprocess.PIPE)  # fmt: skip
        assert senders.process.stdout is not None
        line = await asyncio.wait_for(senders.process.stdout.readline(), GATE_WAIT_S)
        parts = line.decode().split()
        if len(parts) == 3 and parts[0] == "gate":
            result.gate = parts[2]
            if parts[2].split("/")[0] != "0":
                await measure_window(result, float(parts[1]), seconds, server, senders, base)
        await asyncio.wait_for(senders.process.wait(), SENDERS_AFTER_GATE_S + seconds)
        if result.window is not None:
            # The hang-ups and the closing of the recordings, after the steady window.
            with contextlib.suppress(TimeoutError, OSError, ValueError, KeyError):
                after = await asyncio.wait_for(loop_lag(base, result.window[1]), 30)
                result.lag_after = after
        result.senders = json.loads(out.read_text())
    except (TimeoutError, OSError, ValueError) as exc:
        result.notes.append(f"run failed: {type(exc).__name__}: {exc}")
    finally:
        if senders is not None:
            await senders.stop(grace_s=5)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        code, workers = await server.stop(grace_s=STOP_GRACE_S)
    result.peak_rss_mb = watch.peak_mb
    if watch.killed:
        result.notes.append(f"server killed above {RSS_LIMIT_MB:.0f} MB")
    result.data_dir = str(data_dir)
    result.log_errors, result.log_lines = log_problems(data_dir / "server.log")
    if code == -9 and not watch.killed:
        result.notes.append(f"the server did not exit within {STOP_GRACE_S:g} s of SIGINT: killed")
    elif code not in (0, None) and not watch.killed:
        result.notes.append(f"server exit code {code}")
    if workers:
        result.notes.append(
            f"{workers} worker process(es) of the server were still running after it exited: killed"
        )
    return result


def analyse_all(results: list[RunResult], loops: Path) -> None:
    """Analyse every run's recordings, two at a time in worker processes."""
    jobs = [(r, r.build, r.senders, r.data_dir) for r in results if r.senders]
    analyse_in_pool(jobs, loops, timeout_s=600)


async def main_async(args: argparse.Namespace) -> int:
    """Run every N for both builds, then analyse and report."""
    sessions = [int(s) for s in args.sessions.split(",")]
    builds = args.builds.split(",")
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dualrec-bench-"))
    try:
        loops_path = work / "loops.pickle"
        loops = {p[0]: encode_party(p) for p in (KIOSK, AGENT)}
        loops_path.write_bytes(pickle.dumps(loops))
        results = []
        for n in sessions:
            for build in builds:
                progress(f"{build}: {n} concurrent session(s) of {args.seconds:g} s")
                run = await run_once(build, n, args.seconds, work, loops_path)
                progress(
                    f"{build} N={n}: server CPU {run.server_cpu or 0:.0f} %, "
                    f"senders {run.sender_cpu or 0:.0f} %, gate {run.gate} {' '.join(run.notes)}"
                )
                results.append(run)
        progress("analysing the recordings")
        await asyncio.to_thread(analyse_all, results, loops_path)
        elapsed = time.monotonic() - began
        text = render(results, seconds=args.seconds, elapsed_s=elapsed, loops=loops)
        publish(text, args.out)
        progress(f"written to {args.out} ({elapsed:.0f} s in all)")
    finally:
        if args.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,2,4,8,16", help="values of N, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of every call")
    parser.add_argument("--out", default="bench/results.md", help="Markdown report")
    parser.add_argument("--builds", default="dualrec,plain", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the recordings and logs")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
