"""Every Redis key dualrec uses, in one place (so that a look at Redis can be read)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """The key names under one prefix (one deployment per prefix)."""

    prefix: str = "dualrec"

    # -- nodes
    @property
    def nodes(self) -> str:
        """Sorted set: node id -> its last heartbeat (Redis time, ms)."""
        return f"{self.prefix}:nodes"

    def node(self, node: str) -> str:
        """Hash: one node's address, incarnation and whether it drains."""
        return f"{self.prefix}:node:{node}"

    @property
    def dead(self) -> str:
        """Set: incarnations declared dead (a node that wakes up finds itself here)."""
        return f"{self.prefix}:dead"

    def reaping(self, node: str) -> str:
        """Lock: the one node cleaning up after a dead one."""
        return f"{self.prefix}:reaping:{node}"

    def stream(self, node: str) -> str:
        """Stream: the envelopes sent to one node."""
        return f"{self.prefix}:stream:{node}"

    # -- the queue
    @property
    def queue(self) -> str:
        """Sorted set: waiting session id -> score (band, then enqueue time)."""
        return f"{self.prefix}:queue"

    @property
    def offers(self) -> str:
        """Hash: offer id -> session id."""
        return f"{self.prefix}:offers"

    def entry(self, session_id: str) -> str:
        """Hash: a queued session's offer, owner node and score (kept until it is matched)."""
        return f"{self.prefix}:entry:{session_id}"

    @property
    def queue_changed(self) -> str:
        """Pub/sub channel: the queue or the agents changed (a hint; nodes also poll)."""
        return f"{self.prefix}:queue-changed"

    # -- agents
    @property
    def available(self) -> str:
        """Sorted set: agent key (node/connection) -> available since (ms)."""
        return f"{self.prefix}:available"

    @property
    def agents(self) -> str:
        """Hash: agent key -> JSON of the agent's name, presence, call and node."""
        return f"{self.prefix}:agents"

    # -- calls
    def call(self, session_id: str) -> str:
        """Hash: the node that owns a live call (runs its relay, workflow and recorder)."""
        return f"{self.prefix}:call:{session_id}"

    def node_calls(self, node: str) -> str:
        """Set: the sessions a node owns (waiting or in a call)."""
        return f"{self.prefix}:node-calls:{node}"

    @property
    def live_calls(self) -> str:
        """Hash: session id -> JSON of a call under way as supervisors see it (its owner
        rewrites it each heartbeat; an entry not rewritten for a while is stale)."""
        return f"{self.prefix}:live-calls"

    def held(self, session_id: str) -> str:
        """String: the agent key waiting for this interrupted session's customer."""
        return f"{self.prefix}:held:{session_id}"
