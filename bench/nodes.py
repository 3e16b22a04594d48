"""Several-nodes benchmark: the same N concurrent calls on one node and on two, on Redis.

    python -m bench.nodes [--sessions 8,16] [--seconds 10] [--layouts one,same,cross]
        [--out bench/results-nodes.md] [--no-claims]

Every layout runs ``dualrec serve --redis-url --node-id --database-url`` processes on one
data folder, a PostgreSQL database made for the run and a Redis database claimed for the
benchmark (``bench.services``), with the recording benchmark's load (``bench.senders``:
N kiosk + agent pairs sending pre-encoded media): ``one``, every party on one node; ``same``,
two nodes, call i's kiosk and agent both on node (i mod 2); ``cross``, two nodes, call i's
kiosk on node (i mod 2) and its agent on the other, so its signalling crosses Redis. Each
kiosk has a branch of its own and agent i takes the offer of kiosk i's branch, so each
call's parties are where the layout puts them; the call is owned by its kiosk's node. Per
node: CPU and event-loop lag over the steady window, frames dropped, calls verified; per
call: accept → matched, from the clients' side. The Lua claim's micro-benchmark
(``bench.claims``) runs first. Nothing is asserted: figures and ratios against the
one-node run of the same N are printed and written as Markdown.
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
from typing import Any

import aiohttp

from storage import Database

from .claims import ClaimFigures
from .claims import measure as measure_claims
from .loop_tracks import AGENT, KIOSK, encode_party
from .measure import analyse_in_pool
from .nodes_report import LAYOUTS, NodeResult, NodesRun, render
from .procs import Child, CpuSample, free_port, log_problems, loop_lag, wait_healthy
from .recording import (
    COOLDOWN_S,
    GATE_WAIT_S,
    SENDERS_AFTER_GATE_S,
    STOP_GRACE_S,
    WARMUP_S,
    Watch,
    progress,
)
from .report import publish
from .services import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    ServiceMissing,
    flush_but_claim,
    postgres_database,
    redis_database,
)


def party_urls(layout: str, ports: list[int]) -> tuple[list[str], list[str]]:
    """The kiosks' and the agents' URLs (call i takes the i-th, round robin)."""
    ws = [f"ws://127.0.0.1:{port}/ws" for port in ports]
    if layout == "cross":
        return ws, ws[1:] + ws[:1]
    return ws, ws


def node_args(name: str, data_dir: Path, port: int, redis_url: str, db_url: str) -> list[str]:
    """A node's command line."""
    # --init: the first node makes the fresh folder a data folder, the next finds it made.
    return ["-m", "dualrec", "serve", "--init", "--data-dir", str(data_dir), "--port",
            str(port), "--segment-seconds", "10", "--redis-url", redis_url, "--node-id", name,
            "--database-url", db_url]  # fmt: skip


async def make_tokens(db: Database, data_dir: Path, n: int) -> Path:
    """Kiosk and agent credentials in the run's database, in a file for the senders."""
    # A branch per kiosk: agent i takes the offer of kiosk i's branch (bench.peers.BranchAgent).
    branches = [f"BJ-{i:03d}" for i in range(n)]
    kiosks = [await db.add_credential("kiosk", f"bench-K{i}", branches[i]) for i in range(n)]
    agents = [await db.add_credential("agent", f"bench-A{i}") for i in range(n)]
    path = data_dir / "tokens.json"
    path.write_text(json.dumps({"kiosks": kiosks, "agents": agents, "branches": branches}))
    return path


async def healthz(port: int) -> dict[str, Any]:
    """A node's /healthz."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        data: dict[str, Any] = await response.json()
    return data


async def wait_all_see(ports: list[int], timeout: float = 30.0) -> None:
    """Wait until every node lists every node."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = [len((await healthz(port)).get("nodes", [])) for port in ports]
        if all(count == len(ports) for count in seen):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the nodes did not all see each other within {timeout:.0f} s")


async def measure_window(
    run: NodesRun, gate_at: float, seconds: float, nodes: list[Child], senders: Child
) -> None:
    """Each node's CPU, calls and loop lag, and the senders' CPU, over the steady window."""
    start, end = gate_at + WARMUP_S, gate_at + seconds - COOLDOWN_S
    await asyncio.sleep(max(0.0, start - time.time()))
    first = CpuSample.take(*(node.pid for node in nodes), senders.pid)
    for result in run.nodes:
        with contextlib.suppress(TimeoutError, OSError, aiohttp.ClientError, KeyError):
            result.calls_in_window = int((await healthz(result.port))["sessions"])
    await asyncio.sleep(max(0.0, end - time.time()))
    last = CpuSample.take(*(node.pid for node in nodes), senders.pid)
    run.window = (first.at, last.at)
    run.machine_busy = last.machine_busy_since(first)
    run.sender_cpu = last.percent_since(first, senders.pid)
    for node, result in zip(nodes, run.nodes, strict=True):
        result.cpu = last.percent_since(first, node.pid)
        try:
            result.lag = await asyncio.wait_for(loop_lag(result.base, first.at), 30)
        except (TimeoutError, OSError, ValueError, KeyError) as exc:
            result.notes.append(f"no loop lag: {type(exc).__name__}")


async def start_nodes(
    run: NodesRun, count: int, data_dir: Path, redis_url: str, db_url: str
) -> list[Child]:
    """Start the nodes one after the other (the first makes the shared signing key)."""
    nodes = []
    for k in range(count):
        name, port = f"node{k + 1}", free_port()
        run.nodes.append(NodeResult(name, port))
        nodes.append(await Child.start(
            name, node_args(name, data_dir, port, redis_url, db_url), data_dir / f"{name}.log",
            stdout=asyncio.subprocess.DEVNULL,
        ))  # fmt: skip
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=60)
    await wait_all_see([result.port for result in run.nodes])
    return nodes


async def run_once(
    layout: str, n: int, seconds: float, work: Path, loops: Path, redis_url: str, pg: str
) -> NodesRun:
    """One layout with N concurrent calls; returns what was measured (not yet analysed)."""
    run = NodesRun(layout, n)
    run.data_dir = str(data_dir := work / f"{layout}-{n:02d}")
    data_dir.mkdir(parents=True)
    await flush_but_claim(redis_url)
    nodes: list[Child] = []
    watches: list[tuple[Watch, asyncio.Future[None]]] = []
    senders: Child | None = None
    stopped: list[tuple[int | None, int]] = []
    async with postgres_database(pg) as (db_url, db):
        try:
            nodes = await start_nodes(run, LAYOUTS[layout][0], data_dir, redis_url, db_url)
            watches = [(w, asyncio.ensure_future(w.run())) for w in map(Watch, nodes)]
            tokens = await make_tokens(db, data_dir, n)
            kiosk_urls, agent_urls = party_urls(layout, [r.port for r in run.nodes])
            out = data_dir / "senders.json"
            senders = await Child.start("senders", [
                "-m", "bench.senders", "--build", "dualrec", "--url", kiosk_urls[0],
                "--sessions", str(n), "--seconds", str(seconds),
                "--epoch", str(float(int(time.time()))), "--data-dir", str(data_dir),
                "--out", str(out), "--loops", str(loops), "--tokens", str(tokens),
                "--kiosk-urls", ",".join(kiosk_urls), "--agent-urls", ",".join(agent_urls),
            ], data_dir / "senders.log", stdout=asyncio.subprocess.PIPE)  # fmt: skip
            assert senders.process.stdout is not None
            line = await asyncio.wait_for(senders.process.stdout.readline(), GATE_WAIT_S)
            parts = line.decode().split()
            if len(parts) == 3 and parts[0] == "gate":
                run.gate = parts[2]
                if parts[2].split("/")[0] != "0":
                    await measure_window(run, float(parts[1]), seconds, nodes, senders)
            await asyncio.wait_for(senders.process.wait(), SENDERS_AFTER_GATE_S + seconds)
            if run.window is not None:
                for result in run.nodes:
                    with contextlib.suppress(TimeoutError, OSError, ValueError, KeyError):
                        after = await asyncio.wait_for(loop_lag(result.base, run.window[1]), 30)
                        result.lag_after = after
            run.senders = json.loads(out.read_text())
        except (TimeoutError, OSError, ValueError, aiohttp.ClientError) as exc:
            run.notes.append(f"run failed: {type(exc).__name__}: {exc}")
        finally:
            if senders is not None:
                await senders.stop(grace_s=5)
            for _, task in watches:
                task.cancel()
            await asyncio.gather(*(task for _, task in watches), return_exceptions=True)
            stopped = await asyncio.gather(*(node.stop(grace_s=STOP_GRACE_S) for node in nodes))
    for k, result in enumerate(run.nodes):
        result.log_errors, result.log_lines = log_problems(data_dir / f"{result.name}.log")
        if k < len(watches):
            result.peak_rss_mb = watches[k][0].peak_mb
        if k >= len(stopped):
            result.notes.append("did not start")
            continue
        code, workers = stopped[k]
        if code not in (0, None):
            result.notes.append(
                f"exit code {code} (-9: not exited {STOP_GRACE_S:g} s after SIGINT)"
            )
        if workers:
            result.notes.append(f"{workers} process(es) of its group left after it exited: killed")
    return run


def analyse_all(runs: list[NodesRun], loops: Path) -> None:
    """Each node's recordings (the calls it owned), two at a time in worker processes."""
    jobs = [
        (node, "dualrec", {**run.senders, "records": run.records_owned_by(node)}, run.data_dir)
        for run in runs
        if run.senders
        for node in run.nodes
    ]
    analyse_in_pool(jobs, loops, timeout_s=900)


async def main_async(args: argparse.Namespace) -> int:
    """The claim's micro-benchmark, every layout for every N, then analyse and report."""
    sessions = [int(s) for s in args.sessions.split(",")]
    layouts = args.layouts.split(",")
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dualrec-bench-nodes-"))
    runs: list[NodesRun] = []
    claims: ClaimFigures | None = None
    try:
        async with redis_database(args.redis_url) as redis_url:
            if args.claims:
                progress("the Lua claim from 3 processes")
                claims = await measure_claims(redis_url)
                await flush_but_claim(redis_url)
            loops_path = work / "loops.pickle"
            loops = {p[0]: encode_party(p) for p in (KIOSK, AGENT)}
            loops_path.write_bytes(pickle.dumps(loops))
            for n in sessions:
                for layout in layouts:
                    progress(f"{layout}: {n} concurrent call(s) of {args.seconds:g} s")
                    run = await run_once(
                        layout, n, args.seconds, work, loops_path, redis_url, args.postgres_url
                    )
                    progress(f"{layout} N={n}: {run.summary()}")
                    runs.append(run)
        progress("analysing the recordings")
        await asyncio.to_thread(analyse_all, runs, loops_path)
        elapsed = time.monotonic() - began
        text = render(runs, claims, seconds=args.seconds, elapsed_s=elapsed, loops=loops)
        publish(text, args.out)
        progress(f"written to {args.out} ({elapsed:.0f} s in all)")
    except ServiceMissing as exc:
        print(f"bench.nodes: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="8,16", help="values of N, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of every call")
    parser.add_argument("--layouts", default="one,same,cross", help="of " + ", ".join(LAYOUTS))
    parser.add_argument("--out", default="bench/results-nodes.md", help="Markdown report")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis (no database)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="a database on it")
    parser.add_argument("--no-claims", dest="claims", action="store_false", help="skip the claim")
    parser.add_argument("--keep", action="store_true", help="keep the recordings and logs")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
