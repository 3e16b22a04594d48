"""The nodes' heartbeats: who is alive, who died, and whether this node still may work.

Every node rewrites its score in one sorted set each ``HEARTBEAT_S`` (Redis' clock, so
that the nodes' clocks need not agree). A node whose score is older than
``DEAD_AFTER_S`` is dead: one survivor (the one that takes a short lock) cleans up after
it, and its incarnation goes into a set that the node, should it wake up (a frozen
process), finds itself in: it then gives up its calls without writing to them.

A node writes recordings only while it holds its *lease*: its own pulse (a task that
ticks every ``PULSE_S`` whatever Redis does) is younger than ``LEASE_S``, shorter than
``DEAD_AFTER_S``. A process that was frozen finds its pulse stale when it wakes: it
writes nothing until a heartbeat has shown that it was not declared dead meanwhile. A
node that merely cannot reach Redis keeps recording (nobody can declare it dead then,
and media does not pass through Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .keys import Keys

logger = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
#: A node silent this long is dead (so it is declared dead within ``DEAD_AFTER_S`` plus
#: one heartbeat: 6 s).
DEAD_AFTER_S = 5.0
#: A node writes recordings only this long after its last pulse.
LEASE_S = 3.5
PULSE_S = 0.25
#: How long one survivor holds the clean-up of a dead node before another may retry.
REAP_LOCK_S = 60.0


def _ignore(operation: str) -> None:
    pass


class NodeIdInUse(RuntimeError):
    """Another live node has this node's id."""


class NodeRegistry:
    """This node's heartbeat, and what it sees of the others."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        node: str,
        address: str,
        *,
        on_reap: Callable[[str], Awaitable[None]],
        on_reset: Callable[[], Awaitable[None]],
        on_fenced: Callable[[], Awaitable[None]],
        on_beat: Callable[[], Awaitable[None]],
    ) -> None:
        self.redis, self.keys, self.node, self.address = redis, keys, node, address
        self.incarnation = uuid.uuid4().hex
        self._on_reap, self._on_reset = on_reap, on_reset
        self._on_fenced, self._on_beat = on_fenced, on_beat
        #: The live nodes and their addresses, as of the last heartbeat.
        self.peers: dict[str, str] = {}
        #: Those of them that drain (take no new calls).
        self.draining_peers: set[str] = set()
        self.draining = False
        #: This node was declared dead while it was frozen: it must not work any more.
        self.fenced = False
        #: Redis errors seen (heartbeats that failed), and since when they fail.
        self.errors = 0
        #: Told of each failure, by operation (metrics).
        self.on_error: Callable[[str], None] = _ignore
        self.failing_since: float | None = None
        self._last_ok: float | None = None
        self._pulse = time.monotonic()
        #: The pulse was found stale (the process was frozen): no writing until a
        #: heartbeat shows this node was not declared dead meanwhile.
        self._suspect = False
        self._task: asyncio.Task[None] | None = None
        self._pulse_task: asyncio.Task[None] | None = None
        #: Until then a node missing from Redis is not taken for gone (Redis was just
        #: restarted, or this node just started: the others register again within a beat).
        self._trust_until = time.monotonic() + DEAD_AFTER_S

    # -- this node -----------------------------------------------------------------

    def lease_valid(self) -> bool:
        """Whether this node may write: not fenced, not frozen since its last heartbeat."""
        if self.fenced or self._suspect:
            return False
        return time.monotonic() - self._pulse < LEASE_S

    async def _beat_pulse(self) -> None:
        while True:
            now = time.monotonic()
            if now - self._pulse > LEASE_S:
                self._suspect = True
                logger.warning("node %s was frozen for %.1f s", self.node, now - self._pulse)
            self._pulse = now
            await asyncio.sleep(PULSE_S)

    def alive(self, node: str) -> bool:
        """Whether ``node`` was alive at the last heartbeat (this node always is)."""
        return node == self.node or node in self.peers

    def accepting(self, node: str) -> bool:
        """Whether ``node`` is alive and takes calls (it does not drain)."""
        if node == self.node:
            return not self.draining
        return node in self.peers and node not in self.draining_peers

    async def start(self) -> str | None:
        """Register; returns the previous incarnation of this node id if it left calls."""
        previous: str | None = await self.redis.hget(self.keys.node(self.node), "incarnation")
        if previous is not None:
            score = await self.redis.zscore(self.keys.nodes, self.node)
            now_ms = await self._now_ms()
            if score is not None and now_ms - score < DEAD_AFTER_S * 1000:
                raise NodeIdInUse(
                    f"node id {self.node!r} is in use by a live node (heartbeat "
                    f"{(now_ms - score) / 1000:.1f} s ago); give each node its own --node-id"
                )
            await self.redis.sadd(self.keys.dead, previous)
        await self._beat()
        self._task = asyncio.create_task(self._run(), name=f"heartbeat {self.node}")
        self._pulse_task = asyncio.create_task(self._beat_pulse(), name=f"pulse {self.node}")
        return previous

    async def stop(self) -> None:
        """Stop beating and leave (a node that drained has no calls to clean up)."""
        for task in (self._task, self._pulse_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not self.fenced:
            with contextlib.suppress(RedisError):
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.zrem(self.keys.nodes, self.node)
                    pipe.delete(self.keys.node(self.node))
                    await pipe.execute()

    async def set_draining(self) -> None:
        """Tell the others this node takes no new calls."""
        self.draining = True
        with contextlib.suppress(RedisError):
            await self.redis.hset(self.keys.node(self.node), "draining", "1")

    # -- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        while not self.fenced:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                self.errors += 1
                self.on_error("heartbeat")
                if self.failing_since is None:
                    self.failing_since = time.time()
                logger.warning("heartbeat failed (Redis): %s", exc)
                continue
            except Exception:
                logger.exception("heartbeat handling failed")

    async def _now_ms(self) -> float:
        seconds, micros = await self.redis.time()
        return float(seconds) * 1000 + float(micros) / 1000

    async def _beat(self) -> None:
        if await self.redis.sismember(self.keys.dead, self.incarnation):
            self.fenced = True
            logger.error("node %s was declared dead while it was not heard: giving up", self.node)
            await self._on_fenced()
            return
        self._suspect = False
        now_ms = await self._now_ms()
        registered = self._last_ok is not None
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.exists(self.keys.node(self.node))
            pipe.zadd(self.keys.nodes, {self.node: now_ms})
            pipe.hset(
                self.keys.node(self.node),
                mapping={
                    "address": self.address,
                    "incarnation": self.incarnation,
                    "draining": "1" if self.draining else "0",
                },
            )
            existed, *_ = await pipe.execute()
        self._last_ok, self.failing_since = time.monotonic(), None
        if registered and not existed:
            logger.warning("Redis lost this node's state (restarted?): registering again")
            self._trust_until = time.monotonic() + DEAD_AFTER_S
            await self._on_reset()
        scores = await self.redis.zrange(self.keys.nodes, 0, -1, withscores=True)
        fresh = {n for n, s in scores if now_ms - s < DEAD_AFTER_S * 1000 and n != self.node}
        info = {n: await self.redis.hmget(self.keys.node(n), "address", "draining") for n in fresh}
        peers = {n: address for n, (address, _) in info.items() if address is not None}
        if time.monotonic() < self._trust_until:
            # Those not heard of again yet are still alive, unless seen silent (below).
            stale = {n for n, s in scores if now_ms - s >= DEAD_AFTER_S * 1000}
            peers = {n: a for n, a in self.peers.items() if n not in stale} | peers
        self.peers = peers
        self.draining_peers = {n for n, (_, draining) in info.items() if draining == "1"}
        for node, score in scores:
            if node != self.node and now_ms - score >= DEAD_AFTER_S * 1000:
                await self._reap(node)
        await self._on_beat()

    async def _reap(self, node: str) -> None:
        """Clean up after a dead ``node`` (if no other survivor is doing it)."""
        lock = self.keys.reaping(node)
        if not await self.redis.set(lock, self.node, nx=True, px=int(REAP_LOCK_S * 1000)):
            return
        incarnation = await self.redis.hget(self.keys.node(node), "incarnation")
        if incarnation is not None:
            await self.redis.sadd(self.keys.dead, incarnation)
        logger.warning("node %s is dead (no heartbeat for %g s): cleaning up", node, DEAD_AFTER_S)
        await self._on_reap(node)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.nodes, node)
            pipe.delete(self.keys.node(node), lock)
            await pipe.execute()
