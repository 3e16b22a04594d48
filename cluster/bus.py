"""Messages between nodes: one Redis stream per node, read by that node alone.

Streams rather than pub/sub: a message published while the reader's connection is
down is lost with pub/sub but kept in a stream, which the reader resumes from the last
id it saw. Each envelope is validated when read: a peer node's message is input too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .keys import Keys

logger = logging.getLogger(__name__)

#: The most envelopes a node's stream keeps (older ones are trimmed).
STREAM_MAX = 10_000
#: How long a message waits for Redis to come back before sending it fails (seconds).
SEND_PATIENCE_S = 15.0
#: The largest envelope read (a signalling message is at most 64 KiB).
MAX_ENVELOPE_BYTES = 256 * 1024
KINDS = frozenset(
    {
        # the owner sends a message to a party whose socket is on the receiving node
        "deliver",
        # a party's node passes the party's message to the call's owner
        "forward",
        # an agent on the sending node claimed a session the receiving node owns
        "claimed",
        # a party's socket closed on the sending node
        "gone",
        # an account was revoked / a page signed out: close its sockets everywhere
        "close_account",
        "close_signed_in",
    }
)


class EnvelopeError(ValueError):
    """An envelope from a peer node that is not one we understand."""


@dataclass(frozen=True)
class Envelope:
    """One message from node to node."""

    kind: str
    #: The node that sent it.
    origin: str
    #: The connection it is about (on the origin for "forward"/"gone"/"claimed", on the
    #: receiver for "deliver").
    conn: str = ""
    session_id: str = ""
    #: A signalling message as JSON text, when the kind carries one.
    message: str = ""
    #: Who the party is (role, name, branch, language), for "forward" and "claimed".
    party: dict[str, str] = field(default_factory=dict)

    def encode(self) -> dict[str, str]:
        """The stream entry's fields."""
        return {"envelope": json.dumps(asdict(self), ensure_ascii=False)}

    @classmethod
    def decode(cls, fields: dict[str, str]) -> Envelope:
        """Read and check a stream entry."""
        text = fields.get("envelope", "")
        if len(text) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError(f"envelope of {len(text)} characters is too large")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise EnvelopeError(f"envelope is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise EnvelopeError("envelope has no known kind")
        for name in ("origin", "conn", "session_id", "message"):
            if not isinstance(data.get(name, ""), str):
                raise EnvelopeError(f"envelope field {name!r} must be text")
        party = data.get("party", {})
        if not isinstance(party, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= 200 for k, v in party.items()
        ):
            raise EnvelopeError("envelope field 'party' must map text to short text")
        known = {"kind", "origin", "conn", "session_id", "message", "party"}
        return cls(**{k: v for k, v in data.items() if k in known})


class NodeBus:
    """Sends envelopes to other nodes and reads this node's own."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        node: str,
        handle: Callable[[Envelope], Awaitable[None]],
    ) -> None:
        self.redis, self.keys, self.node = redis, keys, node
        self._handle = handle
        self._task: asyncio.Task[None] | None = None
        #: Told of each failure, by operation (metrics).
        self.on_error: Callable[[str], None] = lambda operation: None
        #: The last entry read (from the start: Redis' clock then). Entry ids are Redis'
        #: clock, so after a restart of Redis the new stream's entries still come after it.
        #: Not "$": what arrives between two reads, or while Redis is away, would be lost.
        self._last = "0-0"
        self.errors = 0

    async def send(self, node: str, envelope: Envelope) -> None:
        """Append ``envelope`` to ``node``'s stream, waiting out a short Redis outage.

        A restart of Redis takes a moment: the message waits (and the sender's next ones
        behind it, in order) rather than being lost, up to ``SEND_PATIENCE_S``.
        """
        deadline = time.monotonic() + SEND_PATIENCE_S
        delay = 0.1
        while True:
            try:
                await self.redis.xadd(
                    self.keys.stream(node), envelope.encode(), maxlen=STREAM_MAX, approximate=True
                )
                return
            except (RedisError, OSError):
                self.errors += 1
                self.on_error("stream send")
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def start(self) -> None:
        """Read this node's stream from now on."""
        seconds, micros = await self.redis.time()
        self._last = f"{int(seconds) * 1000 + int(micros) // 1000}-0"
        self._task = asyncio.create_task(self._read(), name=f"bus {self.node}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read(self) -> None:
        stream = self.keys.stream(self.node)
        # A dedicated connection: XREAD BLOCK holds it for up to a second at a time.
        reader = self.redis.client()
        try:
            while True:
                try:
                    batches = await reader.xread({stream: self._last}, count=100, block=1000)
                except (RedisError, OSError) as exc:
                    self.errors += 1
                    self.on_error("stream read")
                    logger.warning("reading the node stream failed (Redis): %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                for _, entries in batches:
                    for entry_id, fields in entries:
                        self._last = entry_id
                        await self._dispatch(fields)
        finally:
            await reader.aclose()

    async def _dispatch(self, fields: dict[str, Any]) -> None:
        try:
            envelope = Envelope.decode(fields)
        except EnvelopeError as exc:
            logger.warning("a peer node sent a bad envelope: %s", exc)
            return
        try:
            await self._handle(envelope)
        except Exception:
            logger.exception(
                "handling a %s envelope from %s failed", envelope.kind, envelope.origin
            )
