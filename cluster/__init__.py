"""Several dualrec nodes sharing one Redis: liveness, the shared queue, messages between nodes.

This package knows Redis and nothing of calls: ``NodeRegistry`` keeps the nodes'
heartbeats and says which died; ``SharedQueue`` holds the waiting customers of every node
and pairs one with an agent in one atomic step; ``NodeBus`` carries ``Envelope`` s from
one node to another. ``signaling.federation`` puts them to work for the call centre.
"""

from .bus import Envelope, EnvelopeError, NodeBus
from .connection import RedisSettings, connect
from .keys import Keys
from .nodes import DEAD_AFTER_S, HEARTBEAT_S, NodeRegistry
from .queue import Claim, ClaimRefused, QueueEntry, SharedQueue

__all__ = [
    "DEAD_AFTER_S",
    "HEARTBEAT_S",
    "Claim",
    "ClaimRefused",
    "Envelope",
    "EnvelopeError",
    "Keys",
    "NodeBus",
    "NodeRegistry",
    "QueueEntry",
    "RedisSettings",
    "SharedQueue",
    "connect",
]
