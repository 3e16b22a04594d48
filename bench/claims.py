"""The Lua claim (``cluster.SharedQueue.claim``) from several processes: speed, and no double claim.

    python -m bench.claims [--redis-url redis://127.0.0.1:6379] [--claims 3000]

Each process has its own Redis connection and its own agents (each agent available once),
and claims the head of one shared queue; all start at the same wall-clock instant. What
every claim returned is brought back, so the same figures show both the speed (claims per
second, each claim's round trip as its process saw it) and the correctness (no session
claimed twice, no agent given two). ``bench.nodes`` runs it first; the test of the claim
(``tests/cluster/test_claims.py``) uses the same functions.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from cluster import ClaimRefused, Keys, QueueEntry, RedisSettings, SharedQueue, connect
from cluster.queue import BAND, NORMAL

from .services import DEFAULT_REDIS_URL, ServiceMissing, redis_database

PROCESSES = 3
#: How long the processes are given to start before they all claim (spawned interpreters).
START_DELAY_S = 3.0
#: Sessions (and agents) put in at once while filling.
FILL_BATCH = 50


@dataclass(frozen=True)
class Outcome:
    """One claim: the agent, what it got ("claimed" and the session, or the refusal's why)."""

    agent: str
    result: str
    session_id: str | None
    seconds: float


@dataclass
class ClaimRun:
    """Every claim of one burst, and its wall-clock span."""

    outcomes: list[Outcome] = field(default_factory=list)
    began: float = 0.0
    ended: float = 0.0

    @property
    def claimed(self) -> list[Outcome]:
        """The claims that won a session."""
        return [o for o in self.outcomes if o.result == "claimed"]

    def refused(self) -> Counter[str]:
        """How many claims were refused, by why."""
        return Counter(o.result for o in self.outcomes if o.result != "claimed")

    def per_second(self) -> float:
        """Claims (won or refused) per second over the burst."""
        span = self.ended - self.began
        return len(self.outcomes) / span if span > 0 else 0.0

    def latency_ms(self, q: float) -> float:
        """A quantile of the claims' round trips, ms."""
        times = sorted(o.seconds for o in self.outcomes)
        return 1000 * times[min(len(times) - 1, int(q * len(times)))] if times else 0.0

    def problems(self) -> list[str]:
        """A session claimed twice, an agent given two sessions (empty when all is well)."""
        found = []
        sessions = Counter(o.session_id for o in self.claimed)
        agents = Counter(o.agent for o in self.claimed)
        twice = [s for s, k in sessions.items() if k > 1]
        if twice:
            found.append(f"{len(twice)} session(s) claimed more than once, e.g. {twice[0]}")
        greedy = [a for a, k in agents.items() if k > 1]
        if greedy:
            found.append(f"{len(greedy)} agent(s) given more than one session, e.g. {greedy[0]}")
        return found


async def fill(url: str, prefix: str, sessions: int, agents: list[str]) -> None:
    """Queue ``sessions`` waiting sessions and make ``agents`` available, under ``prefix``."""
    redis = connect(RedisSettings(url))
    queue = SharedQueue(redis, Keys(prefix))
    now = time.time()
    entries = [
        QueueEntry(
            session_id=f"session-{i:05d}",
            offer_id=f"offer-{i:05d}",
            service="card_opening",
            branch=None,
            kiosk=f"kiosk-{i:05d}",
            owner="bench",
            queued_at=now,
            score=NORMAL * BAND + i,
        )
        for i in range(sessions)
    ]
    try:
        for first in range(0, max(sessions, len(agents)), FILL_BATCH):
            await asyncio.gather(
                *(queue.join(entry) for entry in entries[first : first + FILL_BATCH]),
                *(
                    queue.agent_state(agent, {"since_ms": i, "node": "bench"}, available=True)
                    for i, agent in enumerate(agents[first : first + FILL_BATCH], first)
                ),
            )
    finally:
        await redis.aclose()


async def _claim_all(
    url: str, prefix: str, agents: list[str], start_at: float, in_flight: int, offer: str | None
) -> tuple[list[Outcome], float, float]:
    redis = connect(RedisSettings(url))
    queue = SharedQueue(redis, Keys(prefix))
    slots = asyncio.Semaphore(in_flight)
    # The connections are made before the start, not timed.
    await asyncio.gather(*(redis.ping() for _ in range(in_flight)))
    await asyncio.sleep(max(0.0, start_at - time.time()))

    async def one(agent: str) -> Outcome:
        async with slots:
            began = time.perf_counter()
            try:
                claim = await queue.claim(agent, offer)
            except ClaimRefused as exc:
                return Outcome(agent, exc.why, None, time.perf_counter() - began)
            return Outcome(agent, "claimed", claim.session_id, time.perf_counter() - began)

    try:
        began = time.time()
        outcomes = await asyncio.gather(*(one(agent) for agent in agents))
        return list(outcomes), began, time.time()
    finally:
        await redis.aclose()


def claimer(
    url: str, prefix: str, agents: list[str], start_at: float, in_flight: int, offer: str | None
) -> tuple[list[Outcome], float, float]:
    """In its own process: claim once for each agent from ``start_at``; outcomes and span."""
    return asyncio.run(_claim_all(url, prefix, agents, start_at, in_flight, offer))


def claim_from_processes(
    url: str, prefix: str, agents: list[str], *, in_flight: int, offer: str | None = None
) -> ClaimRun:
    """Claim once for each agent, the agents dealt to ``PROCESSES`` processes, all at once."""
    dealt = [agents[p::PROCESSES] for p in range(PROCESSES)]
    context = multiprocessing.get_context("spawn")
    run = ClaimRun()
    with concurrent.futures.ProcessPoolExecutor(PROCESSES, mp_context=context) as pool:
        start_at = time.time() + START_DELAY_S
        futures = [
            pool.submit(claimer, url, prefix, mine, start_at, in_flight, offer) for mine in dealt
        ]
        spans = []
        for future in futures:
            outcomes, began, ended = future.result(timeout=120)
            run.outcomes += outcomes
            spans.append((began, ended))
    run.began, run.ended = min(b for b, _ in spans), max(e for _, e in spans)
    return run


@dataclass
class ClaimFigures:
    """What the micro-benchmark measured: a speed burst, and two correctness bursts."""

    speed: ClaimRun
    distinct: ClaimRun
    contested: ClaimRun
    in_flight: int


async def measure(url: str, *, claims: int = 3000, in_flight: int = 4) -> ClaimFigures:
    """The three bursts, each under a key prefix of its own on the Redis at ``url``."""
    tag = uuid.uuid4().hex[:8]

    async def burst(name: str, sessions: int, agents: int, flight: int, offer: bool) -> ClaimRun:
        prefix = f"bench-claims-{tag}-{name}"
        names = [f"{prefix}/agent-{i:05d}" for i in range(agents)]
        await fill(url, prefix, sessions, names)
        offered = "offer-00000" if offer else None
        return await asyncio.to_thread(
            claim_from_processes, url, prefix, names, in_flight=flight, offer=offered
        )

    return ClaimFigures(
        speed=await burst("speed", claims, claims, in_flight, offer=False),
        # 100 claims of the head at once (every one in flight) for 100 waiting sessions.
        distinct=await burst("distinct", 100, 100, 100, offer=False),
        # 30 agents claim the same offer at once: one may win.
        contested=await burst("contested", 10, 30, 30, offer=True),
        in_flight=in_flight,
    )


def render_claims(figures: ClaimFigures) -> list[str]:
    """The micro-benchmark's Markdown lines."""
    speed, distinct, contested = figures.speed, figures.distinct, figures.contested
    waits = [o.seconds * 1000 for o in speed.outcomes]
    lines = [
        "| burst | claims | won | refused | claims per second | round trip p50 / p99 / max ms "
        "| problems |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run in (
        (f"speed: {len(speed.outcomes)} heads, {figures.in_flight} in flight per process", speed),
        ("correctness: 100 heads at once for 100 waiting", distinct),
        ("correctness: 30 claims of one offer at once", contested),
    ):
        refused = ", ".join(f"{k} {v}" for k, v in sorted(run.refused().items())) or "0"
        cells = [
            name,
            str(len(run.outcomes)),
            f"{len(run.claimed)} ({len({o.session_id for o in run.claimed})} distinct sessions)",
            refused,
            f"{run.per_second():.0f}",
            f"{run.latency_ms(0.5):.2f} / {run.latency_ms(0.99):.2f} / "
            f"{max((o.seconds for o in run.outcomes), default=0) * 1000:.2f}",
            "; ".join(run.problems()) or "none",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    mean = statistics.fmean(waits) if waits else 0.0
    lines += [
        "",
        f"{PROCESSES} processes, each with its own Redis connection and its own agents, started "
        f"together; a claim is the Lua script (ZRANGE/ZREM of the queue, ZREM of the agent, "
        f"the entry marked) and the PUBLISH of the change hint that follows it: two round "
        f"trips (mean {mean:.2f} ms as the processes saw it).",
    ]
    return lines


async def main_async(args: argparse.Namespace) -> int:
    """The bursts on a Redis database claimed for them, flushed before and after."""
    try:
        async with redis_database(args.redis_url) as url:
            figures = await measure(url, claims=args.claims)
    except ServiceMissing as exc:
        print(f"bench.claims: {exc}", file=sys.stderr)
        return 2
    print("\n".join(render_claims(figures)))
    return 0


def main() -> int:
    """Run the micro-benchmark alone and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis (no database)")
    parser.add_argument("--claims", type=int, default=3000)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
