"""The customers waiting on every node, in one Redis sorted set, and pairing in one step.

A waiting session is scored by band (resumed calls first) and the time it was first
queued, so the order survives its node: the entry (offer, service, branch, owner node,
score) is kept until the session is matched, and a kiosk that comes back on another
node is queued again at the same score. ``claim`` is one Lua script: it takes the
offered session (or the head of the queue) and the agent's availability together, so no
customer is offered to two agents and no agent gets two customers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from .keys import Keys

#: Scores: band * BAND + milliseconds since the epoch (resumed calls in band 0).
BAND = 10**14
FIRST, NORMAL = 0, 1


@dataclass(frozen=True)
class QueueEntry:
    """A waiting session as the queue holds it."""

    session_id: str
    offer_id: str
    service: str
    branch: str | None
    kiosk: str
    owner: str
    #: When it was first queued (Unix seconds).
    queued_at: float
    score: float

    def offer(self, now: float) -> dict[str, Any]:
        """How available agents see it (no session id, no kiosk)."""
        return {
            "offer_id": self.offer_id,
            "service": self.service,
            "branch": self.branch,
            "waited_s": round(now - self.queued_at, 1),
        }

    def overview(self, now: float) -> dict[str, Any]:
        """How supervisors see it."""
        return {
            "session_id": self.session_id,
            "service": self.service,
            "branch": self.branch,
            "kiosk": self.kiosk,
            "node": self.owner,
            "waited_s": round(now - self.queued_at, 1),
        }

    def fields(self) -> dict[str, str]:
        """The entry's hash fields."""
        return {
            "offer_id": self.offer_id,
            "service": self.service,
            "branch": self.branch or "",
            "kiosk": self.kiosk,
            "owner": self.owner,
            "queued_at": repr(self.queued_at),
            "score": repr(self.score),
        }

    @classmethod
    def from_fields(cls, session_id: str, fields: dict[str, str]) -> QueueEntry:
        """The entry read back from its hash."""
        return cls(
            session_id=session_id,
            offer_id=fields["offer_id"],
            service=fields["service"],
            branch=fields["branch"] or None,
            kiosk=fields["kiosk"],
            owner=fields["owner"],
            queued_at=float(fields["queued_at"]),
            score=float(fields["score"]),
        )


@dataclass(frozen=True)
class Claim:
    """What an agent won: the session and the node that owns it."""

    session_id: str
    owner: str


class ClaimRefused(Exception):
    """The queue is empty, the offer is gone, or the agent is not available (``why``)."""

    def __init__(self, why: str, text: str) -> None:
        super().__init__(text)
        #: "empty", "taken" or "unavailable".
        self.why = why


# KEYS: queue, offers, available, agents ; ARGV: offer id ("" = head), agent key, prefix
_CLAIM = """
local session
if ARGV[1] == '' then
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)
  session = head[1]
  if not session then return {'refused', 'empty', 'the queue is empty'} end
else
  session = redis.call('HGET', KEYS[2], ARGV[1])
  if not session or not redis.call('ZSCORE', KEYS[1], session) then
    local offer = string.sub(ARGV[1], 1, 40)
    return {'refused', 'taken', 'offer "' .. offer .. '" is not waiting (taken, or left)'}
  end
end
if redis.call('ZREM', KEYS[3], ARGV[2]) == 0 then
  return {'refused', 'unavailable', 'the agent is not available'}
end
local entry = ARGV[3] .. ':entry:' .. session
redis.call('ZREM', KEYS[1], session)
redis.call('HDEL', KEYS[2], redis.call('HGET', entry, 'offer_id'))
redis.call('HSET', entry, 'claimed_by', ARGV[2])
return {'claimed', session, redis.call('HGET', entry, 'owner')}
"""


class SharedQueue:
    """The one queue of every node, and the agents available to take from it."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys
        self._claim = redis.register_script(_CLAIM)

    async def join(self, entry: QueueEntry) -> None:
        """Queue ``entry`` at its score (again, if it was queued before)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.entry(entry.session_id), mapping=entry.fields())
            pipe.hdel(self.keys.entry(entry.session_id), "claimed_by")
            pipe.hset(self.keys.offers, entry.offer_id, entry.session_id)
            pipe.zadd(self.keys.queue, {entry.session_id: entry.score})
            await pipe.execute()
        await self.changed()

    async def entry(self, session_id: str) -> QueueEntry | None:
        """The entry of ``session_id`` if it is (or was, unmatched) in the queue."""
        fields = await self.redis.hgetall(self.keys.entry(session_id))
        return QueueEntry.from_fields(session_id, fields) if fields else None

    async def leave(self, session_id: str) -> bool:
        """Take the session out for good (left, matched, or ended); whether it waited."""
        offer = await self.redis.hget(self.keys.entry(session_id), "offer_id")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.queue, session_id)
            pipe.delete(self.keys.entry(session_id))
            if offer is not None:
                pipe.hdel(self.keys.offers, offer)
            removed, *_ = await pipe.execute()
        if removed:
            await self.changed()
        return bool(removed)

    async def set_aside(self, session_ids: list[str]) -> None:
        """Take sessions out of the queue but keep their entries (their node died)."""
        if session_ids:
            await self.redis.zrem(self.keys.queue, *session_ids)
            await self.changed()

    async def claim(self, agent_key: str, offer_id: str | None) -> Claim:
        """Take the offered session (or the head) for ``agent_key``, atomically."""
        keys = [self.keys.queue, self.keys.offers, self.keys.available, self.keys.agents]
        result = await self._claim(keys=keys, args=[offer_id or "", agent_key, self.keys.prefix])
        if result[0] != "claimed":
            raise ClaimRefused(result[1], result[2])
        await self.changed()
        return Claim(session_id=result[1], owner=result[2])

    async def waiting(self, limit: int = 200) -> list[QueueEntry]:
        """The first ``limit`` waiting sessions, in order."""
        ids = await self.redis.zrange(self.keys.queue, 0, limit - 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.hgetall(self.keys.entry(session_id))
            rows = await pipe.execute()
        return [QueueEntry.from_fields(i, f) for i, f in zip(ids, rows, strict=True) if f]

    async def length(self) -> int:
        """How many wait."""
        return int(await self.redis.zcard(self.keys.queue))

    async def position(self, session_id: str) -> int | None:
        """1 for the head; None if not waiting."""
        rank = await self.redis.zrank(self.keys.queue, session_id)
        return None if rank is None else rank + 1

    # -- agents --------------------------------------------------------------------

    async def agent_state(self, agent_key: str, state: dict[str, Any], available: bool) -> None:
        """Record an agent's presence; ``available`` puts it among those who may claim."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.agents, agent_key, json.dumps(state))
            if available:
                pipe.zadd(self.keys.available, {agent_key: state["since_ms"]}, nx=True)
            else:
                pipe.zrem(self.keys.available, agent_key)
            await pipe.execute()
        await self.changed()

    async def agent_gone(self, *agent_keys: str) -> None:
        """Agents whose sockets closed (or whose node died)."""
        if agent_keys:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self.keys.agents, *agent_keys)
                pipe.zrem(self.keys.available, *agent_keys)
                await pipe.execute()
            await self.changed()

    async def agents(self) -> dict[str, dict[str, Any]]:
        """Every agent of every node, by key."""
        rows = await self.redis.hgetall(self.keys.agents)
        return {key: json.loads(value) for key, value in rows.items()}

    async def changed(self) -> None:
        """Hint every node that the queue or the agents changed."""
        await self.redis.publish(self.keys.queue_changed, "1")
