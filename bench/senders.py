"""N kiosk + agent pairs as real aiortc peers, sending pre-encoded media: the load generator.

Run as its own process by ``bench.recording``. All calls are held at a start gate
until every one has media flowing both ways, then run ``--seconds`` concurrently.
Prints ``gate <unix time> <arrived>/<expected>`` when the calls start, and writes what
was sent, when each call hung up and when its recording was verified to ``--out``.

Against several nodes (``bench.nodes``), call ``i``'s kiosk uses the ``i``-th of
``--kiosk-urls`` and its agent the ``i``-th of ``--agent-urls`` (round robin); when the
tokens file names each kiosk's branch, agent ``i`` takes the offer of kiosk ``i``'s branch
(``BranchAgent``), so where each party of each call is is known.

    python -m bench.senders --build dualrec|plain --url URL --sessions N --seconds S
        --epoch E --data-dir DIR --out FILE [--tokens FILE] [--loops FILE]
        [--kiosk-urls URL,... --agent-urls URL,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import pickle
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import av

from agent_console import ScriptedAgent
from kiosk_client import Kiosk
from media.verify import verify_recording
from signaling import Matched, SignalingClient
from signaling.lag import LagMonitor

from .loop_tracks import AGENT, KIOSK, LoopTrack, PartyLoop, encode_party, party_tracks
from .peers import BranchAgent, CountingClient, StartGate, plain_party, wait_for_media

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

GATE_TIMEOUT_S = 60.0
MEDIA_TIMEOUT_S = 30.0
VERIFY_TIMEOUT_S = 40.0
#: Calls still running this long after their planned end are cancelled.
AFTER_CALL_S = 60.0


def source(i: int) -> str:
    """Call ``i``'s loopback address: a server takes at most 20 sockets from one address."""
    return f"127.0.0.{2 + i % 250}"


def session_of(client: SignalingClient) -> str | None:
    """The session the client was matched into, if any."""
    matched = [m for m in client.history if isinstance(m, Matched)]
    return matched[0].session_id if matched else None


def track_stats(tracks: list[LoopTrack]) -> list[dict[str, object]]:
    """What each track sent."""
    return [t.stats.to_dict() for t in tracks]


async def poll_verified(folder: Path, hangup_at: float) -> dict[str, Any]:
    """Wait for the manifest, then verify the recording in a thread; times from the hang-up."""
    manifest = folder / "manifest.json"
    result: dict[str, Any] = {"manifest_s": None, "verified_s": None, "verify_ok": False}
    async with asyncio.timeout(VERIFY_TIMEOUT_S):
        while not manifest.is_file():
            await asyncio.sleep(0.02)
        result["manifest_s"] = time.time() - hangup_at
        report = await asyncio.to_thread(verify_recording, folder)
    result["verified_s"] = time.time() - hangup_at
    result["verify_ok"] = report.ok
    result["verify_problems"] = report.problems[:5]
    return result


async def run_dualrec(args: argparse.Namespace, loops: dict[str, PartyLoop]) -> dict[str, Any]:
    """N kiosks and N scripted agents against a dualrec server."""
    tokens = json.loads(Path(args.tokens).read_text())
    gate = StartGate(args.sessions, GATE_TIMEOUT_S)
    step_s = args.seconds / 6  # five workflow steps, then a last pause before hanging up
    records: list[dict[str, Any]] = []
    kiosk_urls = args.kiosk_urls.split(",") if args.kiosk_urls else [args.url]
    agent_urls = args.agent_urls.split(",") if args.agent_urls else [args.url]
    branches = tokens.get("branches")

    async def kiosk(i: int) -> None:
        """Kiosk ``i``: a whole visit."""
        url = kiosk_urls[i % len(kiosk_urls)]
        tracks = party_tracks(loops["kiosk"], args.epoch)
        client = CountingClient(url, "kiosk", tokens["kiosks"][i], local_address=source(i))
        kiosk = Kiosk(url, tokens["kiosks"][i], list(tracks))
        kiosk.client = client
        record: dict[str, Any] = {"role": "kiosk", "index": i, "url": url}
        records.append(record)
        try:
            result = await kiosk.run()
            record["ended"] = result.ended.reason if result.ended else None
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            record["session_id"] = session_of(client)
            record["matched_at"] = client.matched_at
            record["received"] = dict(client.received_frames)
            record["sent"] = track_stats(tracks)

    async def agent(i: int) -> None:
        """Agent ``i``: one call, then the recording verified."""
        url = agent_urls[i % len(agent_urls)]
        tracks = party_tracks(loops["agent"], args.epoch)
        client = CountingClient(url, "agent", tokens["agents"][i], gate, local_address=source(i))
        token = tokens["agents"][i]
        scripted = (
            ScriptedAgent(url, token, list(tracks), step_s=step_s)
            if branches is None
            else BranchAgent(url, token, list(tracks), step_s=step_s, branch=branches[i])
        )
        scripted.client = client
        record: dict[str, Any] = {"role": "agent", "index": i, "url": url}
        records.append(record)
        try:
            result = await scripted.run()
            record["ended"] = result.ended.reason if result.ended else None
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if not client.arrived:
                gate.leave()
            record["session_id"] = session_of(client)
            record["accepted_at"] = client.accepted_at
            record["matched_at"] = client.matched_at
            record["received"] = dict(client.received_frames)
            record["sent"] = track_stats(tracks)
            record["hangup_at"] = client.hangup_at
        sid = record["session_id"]
        if client.hangup_at is not None and sid:
            folder = Path(args.data_dir) / "recordings" / sid
            try:
                record.update(await poll_verified(folder, client.hangup_at))
            except TimeoutError:
                record["verify_error"] = "no verified recording within the timeout"

    calls = [kiosk(i) for i in range(args.sessions)] + [agent(i) for i in range(args.sessions)]
    cancelled = await bounded(gate, args.seconds, calls)
    return {"gate": gate_info(gate), "records": records, "cancelled": cancelled}


async def run_plain(args: argparse.Namespace, loops: dict[str, PartyLoop]) -> dict[str, Any]:
    """N kiosk + agent pairs against the plain aiortc server."""
    gate = StartGate(args.sessions, GATE_TIMEOUT_S)
    records: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=180)

    async def pair(i: int, http: aiohttp.ClientSession) -> None:
        """Pair ``i``: both parties, the call, the hang-up and the files decoded."""
        session = f"plain{i:02d}{uuid.uuid4().hex[:8]}"
        kiosk_tracks = party_tracks(loops["kiosk"], args.epoch)
        agent_tracks = party_tracks(loops["agent"], args.epoch)
        counts = [{"audio": 0, "video": 0}, {"audio": 0, "video": 0}]
        record: dict[str, Any] = {"role": "pair", "index": i, "session_id": session}
        records.append(record)
        pcs = []
        arrived = False
        try:
            pcs = list(
                await asyncio.gather(
                    plain_party(http, args.url, session, "kiosk", kiosk_tracks, counts[0]),
                    plain_party(http, args.url, session, "agent", agent_tracks, counts[1]),
                )
            )
            await wait_for_media(counts, MEDIA_TIMEOUT_S)
            arrived = True
            await gate.arrive()
            await asyncio.sleep(args.seconds)
            record["hangup_at"] = hangup_at = time.time()
            async with http.post(f"{args.url}/hangup", json={"session": session}) as response:
                response.raise_for_status()
                stopped = await response.json()
            record["manifest_s"] = time.time() - hangup_at
            record["recorder_errors"] = stopped["errors"]
            decoded = await asyncio.to_thread(decode_files, stopped["files"])
            record["verified_s"] = time.time() - hangup_at
            record["verify_ok"] = not decoded and not stopped["errors"]
            record["verify_problems"] = decoded
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if not arrived:
                gate.leave()
            record["received"] = {"kiosk": counts[0], "agent": counts[1]}
            record["sent"] = track_stats(kiosk_tracks + agent_tracks)
            for track in kiosk_tracks + agent_tracks:
                track.stop()
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    async with aiohttp.ClientSession(timeout=timeout) as http:
        calls = [pair(i, http) for i in range(args.sessions)]
        cancelled = await bounded(gate, args.seconds, calls)
    return {"gate": gate_info(gate), "records": records, "cancelled": cancelled}


def decode_files(paths: list[str]) -> list[str]:
    """Decode every frame of each file; returns the problems found."""
    problems = []
    for path in paths:
        frames = 0
        try:
            with av.open(path) as container:
                for _ in container.decode(container.streams[0]):
                    frames += 1
        except (av.FFmpegError, OSError, IndexError) as exc:
            problems.append(f"{Path(path).name}: {exc}")
            continue
        if frames == 0:
            problems.append(f"{Path(path).name}: no frame")
    return problems


async def bounded(gate: StartGate, seconds: float, calls: list[Coroutine[Any, Any, None]]) -> int:
    """Run the calls; announce the start; cancel what still runs long after it."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    await gate.wait()
    # The orchestrator's steady window starts with this line.
    print(f"gate {gate.released_at:.3f} {gate.arrived}/{gate.expected}", flush=True)
    _, pending = await asyncio.wait(tasks, timeout=seconds + AFTER_CALL_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if pending:
        logger.error(
            "%d call(s) still running %.0f s after the end: cancelled", len(pending), AFTER_CALL_S
        )
    return len(pending)


def gate_info(gate: StartGate) -> dict[str, Any]:
    """The gate's figures for the result file."""
    return {
        "released_at": gate.released_at,
        "arrived": gate.arrived,
        "expected": gate.expected,
        "timed_out": gate.timed_out,
    }


def load_loops(path: str | None) -> dict[str, PartyLoop]:
    """Both parties' encoded loops, from the orchestrator's cache file or encoded now."""
    if path and Path(path).is_file():
        loops: dict[str, PartyLoop] = pickle.loads(Path(path).read_bytes())
        return loops
    return {p[0]: encode_party(p) for p in (KIOSK, AGENT)}


async def run(args: argparse.Namespace, loops: dict[str, PartyLoop]) -> dict[str, Any]:
    """Run the calls of either build, probing this process's own event-loop lag."""
    lag = LagMonitor()
    lag.start()
    try:
        if args.build == "dualrec":
            result = await run_dualrec(args, loops)
        else:
            result = await run_plain(args, loops)
    finally:
        await lag.stop()
    result["epoch"] = args.epoch
    result["loop_lag"] = [(round(at, 3), round(late, 4)) for at, late in lag.samples]
    return result


def main() -> None:
    """Run the calls and write the result file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", choices=("dualrec", "plain"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokens")
    parser.add_argument("--loops")
    parser.add_argument("--kiosk-urls", help="the kiosks' URLs, comma-separated (round robin)")
    parser.add_argument("--agent-urls", help="the agents' URLs, comma-separated (round robin)")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    loops = load_loops(args.loops)
    result = asyncio.run(run(args, loops))
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
