"""Several nodes: the call centre's ``NodeLink`` on Redis.

Each call has one owner node: the kiosk's node when it is queued (or the node a kiosk
resumes on, once the old owner is gone). The owner runs the relay, the workflow and the
recorder; a party whose socket is on another node is a *proxy* ``Client`` there, whose
``send`` posts the message to the party's node, and that node passes the party's
messages back (``NodeBus``). Media never goes through Redis: both parties' peer
connections go straight to the owner.

When a node dies, one survivor marks its calls interrupted and closes their recording
parts from the shared recordings folder; the agents of those calls, on other nodes,
wait for their customers (as after a kiosk's drop); the kiosks reconnect to any node
and resume, and those that waited in the queue get their old places back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis.asyncio import Redis

from cluster import ClaimRefused, Envelope, EnvelopeError, Keys, NodeBus, NodeRegistry, SharedQueue
from common import BackgroundTasks, Language, Presence, Role

from . import cluster_view, failover
from .errors import OutOfOrder, SignalingError
from .nodelink import Everywhere
from .protocol import (
    Error,
    Hangup,
    Join,
    Matched,
    Message,
    PeerReconnecting,
    Resume,
    SessionEnded,
    parse_message,
)
from .protocol import Presence as PresenceMessage
from .resume import load_queued
from .server import error_message
from .session import Client, LiveSession, RemoteCall
from .shared_queue import NodeQueue

if TYPE_CHECKING:
    from .hub import CallCentre


logger = logging.getLogger(__name__)


class Federation:
    """This node among several: the call centre's ``NodeLink`` on Redis."""

    def __init__(
        self,
        centre: CallCentre,
        redis: Redis,
        node: str,
        address: str,
        *,
        signing_key: Ed25519PrivateKey,
        recordings_dir: Path,
        keys: Keys | None = None,
    ) -> None:
        self.centre, self.redis, self.node = centre, redis, node
        self.keys = keys or Keys()
        self.signing_key, self.recordings_dir = signing_key, recordings_dir
        self.shared = SharedQueue(redis, self.keys)
        self.registry = NodeRegistry(
            redis,
            self.keys,
            node,
            address,
            on_reap=partial(failover.reap, self),
            on_reset=partial(failover.reset, self),
            on_fenced=partial(failover.fenced, self),
            on_beat=partial(failover.beat, self),
        )
        self.bus = NodeBus(redis, self.keys, node, self._receive)
        #: This node's joined clients, by connection id.
        self.local: dict[str, Client] = {}
        #: Parties of calls owned here whose sockets are elsewhere, by (node, connection).
        self.proxies: dict[tuple[str, str], Client] = {}
        #: What to do when another node closes an account's sockets (set by the server).
        self.close_sockets: Callable[[str, dict[str, str]], None] | None = None
        self.tasks = BackgroundTasks("federation")
        self._listener: asyncio.Task[None] | None = None
        self.queue = centre.queue = NodeQueue(self.shared, node)
        #: Every node's agents and calls as last read (each heartbeat), for supervisors.
        self.seen = Everywhere()
        centre.media.may_write = self.registry.lease_valid
        centre.roster.watch = self.publish_agent

    # -- starting and stopping -------------------------------------------------------

    def count_errors(self, on_error: Callable[[str], None]) -> None:
        """Tell ``on_error`` of every failed Redis operation, by a short name (metrics)."""
        self.registry.on_error = self.bus.on_error = self.queue.on_error = on_error

    async def start(self) -> None:
        """Register this node, clean up after its previous run, read its stream."""
        if await self.registry.start() is not None:
            # This node id ran before and died with calls: they are ours to clean up.
            await failover.reap(self, self.node)
        await self.bus.start()
        hints = self.queue.follow_hints(self.centre.roster, self.centre.handling)
        self._listener = asyncio.create_task(hints, name="queue hints")

    async def stop(self) -> None:
        """Leave (after the call centre has ended or handed over every call)."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.bus.stop()
        await self.tasks.join()
        await self.registry.stop()

    # -- NodeLink --------------------------------------------------------------------

    async def route(self, client: Client, message: Message) -> bool:
        remote = client.remote
        if (
            remote is None
            or remote.owner == self.node
            or isinstance(message, Join | PresenceMessage)
        ):
            return False
        if remote.owner is None:
            if isinstance(message, Hangup) and client.role is Role.AGENT:
                await failover.give_up(self, client, remote, message.reason)
                return True
            raise OutOfOrder(message.type, "the customer's call is being moved to another node")
        await self._forward(client, remote.owner, message)
        return True

    async def joined(self, client: Client) -> None:
        self.local[client.id] = client

    async def gone(self, client: Client) -> None:
        if self.local.pop(client.id, None) is None:
            return
        remote = client.remote
        if remote is not None and remote.owner is not None:
            await self.bus.send(remote.owner, Envelope("gone", origin=self.node, conn=client.id))
        elif remote is not None:
            await self.redis.delete(self.keys.held(remote.session_id))
        if client.role is Role.AGENT:
            await self.shared.agent_gone(self.agent_key(client))

    async def own(self, session: LiveSession) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.call(session.id), "owner", self.node)
            pipe.sadd(self.keys.node_calls(self.node), session.id)
            await pipe.execute()

    async def disown(self, session: LiveSession) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.call(session.id))
            pipe.srem(self.keys.node_calls(self.node), session.id)
            pipe.hdel(self.keys.live_calls, session.id)
            await pipe.execute()

    async def claim(self, agent: Client, offer_id: str | None) -> LiveSession | None:
        try:
            claim = await self.shared.claim(self.agent_key(agent), offer_id)
        except ClaimRefused as exc:
            if exc.why == "taken":
                raise SignalingError(str(exc)) from None
            raise OutOfOrder("accept", "queue empty" if exc.why == "empty" else str(exc)) from None
        if claim.owner == self.node:
            session = self.centre.sessions.get(claim.session_id)
            if session is None or not self.centre.queue.forget(session):
                raise SignalingError("the customer is no longer waiting")
            await self.shared.leave(session.id)
            return session
        agent.remote = RemoteCall(claim.session_id, claim.owner)
        claimed = Envelope(
            "claimed",
            origin=self.node,
            conn=agent.id,
            session_id=claim.session_id,
            party=self._party(agent),
        )
        await self.bus.send(claim.owner, claimed)
        return None

    async def resume(self, client: Client, message: Resume) -> bool:
        owner = await self.redis.hget(self.keys.call(message.session_id), "owner")
        if owner is not None and owner != self.node and self.registry.accepting(owner):
            client.language = Language(message.language)
            client.remote = RemoteCall(message.session_id, owner)
            await self._forward(client, owner, message)
            return True
        entry = await self.shared.entry(message.session_id)
        if entry is None:
            return False
        # It waited in the queue on a node that died: back at its old place.
        centre = self.centre
        session = await load_queued(centre.db, centre.flows, client, message.session_id)
        session.queue_score = entry.score
        client.language = Language(message.language)
        await self.centre.requeue(session)
        logger.info("session %s: %s is back in the queue", session.id, client.label)
        return True

    async def held_agent(self, session_id: str) -> Client | None:
        key = await self.redis.get(self.keys.held(session_id))
        if key is None:
            return None
        node, _, conn = key.partition("/")
        if not self.registry.alive(node):
            return None
        await self.redis.delete(self.keys.held(session_id))
        if node == self.node:  # the agent waits on this node: the call is local again
            local = self.local.get(conn)
            if local is not None:
                local.remote = None
            return local
        state = (await self.shared.agents()).get(key)
        party = {"role": Role.AGENT.value, "name": "" if state is None else state["name"]}
        return self._proxy(node, conn, party)

    def draining(self) -> bool:
        return self.registry.draining

    async def agent_of(self, session_id: str) -> str | None:
        name: str | None = await self.redis.hget(self.keys.call(session_id), "agent")
        return name

    def everywhere(self) -> Everywhere | None:
        return self.seen

    def status(self) -> dict[str, Any]:
        return cluster_view.status(self)

    def problems(self) -> list[str]:
        return cluster_view.problems(self)

    # -- agents ----------------------------------------------------------------------

    def agent_key(self, agent: Client) -> str:
        """How the shared queue names an agent: its node and connection."""
        return f"{self.node}/{agent.id}"

    async def publish_agent(self, agent: Client) -> None:
        """Put this node's ``agent`` in the shared view: presence, call, availability."""
        if agent.role is not Role.AGENT or agent.id not in self.local:
            return
        session_id = agent.session.id if agent.session else None
        if session_id is None and agent.remote is not None:
            session_id = agent.remote.session_id
        waited = time.monotonic() - agent.presence_since
        state: dict[str, Any] = {
            "name": agent.name,
            "node": self.node,
            "presence": agent.presence.value,
            "session_id": session_id,
            "service": agent.session.service if agent.session else None,
            "since_ms": round((time.time() - waited) * 1000),
        }
        free = session_id is None and agent.presence is Presence.AVAILABLE
        await self.shared.agent_state(self.agent_key(agent), state, free)
        if session_id is not None and agent.presence is Presence.BUSY:
            # Whose call it is, for the pages any node may serve (media and evidence).
            await self.redis.hset(self.keys.call(session_id), "agent", agent.name)

    # -- envelopes ---------------------------------------------------------------------

    def _party(self, client: Client) -> dict[str, str]:
        return {
            "role": str(client.role or ""),
            "name": client.name,
            "branch": client.branch or "",
            "language": client.language.value,
        }

    async def _forward(self, client: Client, owner: str, message: Message) -> None:
        envelope = Envelope(
            "forward",
            origin=self.node,
            conn=client.id,
            message=message.to_json(),
            party=self._party(client),
        )
        await self.bus.send(owner, envelope)

    async def _deliver(self, node: str, conn: str, message: Message) -> None:
        """A proxy's ``send``: the message goes to the party's node."""
        if isinstance(message, SessionEnded):
            self._drop_proxy(node, conn)
        # Sent even to a node this one has not heard of yet (it joined since the last
        # heartbeat); a dead node's stream is deleted when it is cleaned up.
        envelope = Envelope("deliver", origin=self.node, conn=conn, message=message.to_json())
        await self.bus.send(node, envelope)

    def _proxy(self, node: str, conn: str, party: dict[str, str]) -> Client:
        proxy = self.proxies.get((node, conn))
        if proxy is None:
            try:
                role = Role(party.get("role", ""))
                language = Language(party.get("language") or Language.ZH_CN)
            except ValueError:
                raise EnvelopeError(f"node {node} named a party of no known role") from None
            if role not in (Role.KIOSK, Role.AGENT):
                raise EnvelopeError(f"node {node} named a {role} as a party")
            proxy = Client(
                send=partial(self._deliver, node, conn),
                role=role,
                name=party.get("name", ""),
                branch=party.get("branch") or None,
                language=language,
                home=node,
            )
            self.proxies[(node, conn)] = proxy
            self.centre.roster.add(proxy)
        return proxy

    def _drop_proxy(self, node: str, conn: str) -> Client | None:
        proxy = self.proxies.pop((node, conn), None)
        if proxy is not None:
            self.centre.roster.discard(proxy)
        return proxy

    async def _receive(self, envelope: Envelope) -> None:
        if self.registry.fenced:
            return
        match envelope.kind:
            case "deliver":
                client = self.local.get(envelope.conn)
                if client is not None:
                    message = parse_message(envelope.message)
                    await self._delivered(client, message, envelope.origin)
                    await client.send(message)
            case "forward":
                proxy = self._proxy(envelope.origin, envelope.conn, envelope.party)
                message = parse_message(envelope.message)
                try:
                    await self.centre.handle(proxy, message)
                except Exception as exc:  # the party hears of it, as from its own node
                    await proxy.send(error_message(exc, message.type))
            case "claimed":
                await self._claimed(envelope)
            case "gone":
                left = self._drop_proxy(envelope.origin, envelope.conn)
                if left is not None:
                    await self.centre.disconnect(left)
            case "close_account" | "close_signed_in":
                if self.close_sockets is not None:
                    self.close_sockets(envelope.kind, envelope.party)

    async def _claimed(self, envelope: Envelope) -> None:
        """An agent on another node won a session this node owns: match them."""
        agent = self._proxy(envelope.origin, envelope.conn, envelope.party)
        session = self.centre.sessions.get(envelope.session_id)
        if session is None or not self.centre.queue.forget(session):
            refused = Error(code="out_of_order", message="the customer left", ref="accept")
            await agent.send(refused)
            self._drop_proxy(envelope.origin, envelope.conn)
            return
        await self.shared.leave(session.id)
        await self.centre.match(session, agent)
        await self.centre.queue.announce(self.centre.roster, self.centre.handling)

    async def _delivered(self, client: Client, message: Message, owner: str) -> None:
        """What this node learns from a message the owner sends one of its parties."""
        remote = client.remote
        match message:
            case Matched():
                client.remote = RemoteCall(message.session_id, owner, matched=True)
                await self.publish_agent(client)
            case PresenceMessage():
                state = Presence(message.state)
                if client.presence is not state:
                    client.presence, client.presence_since = state, time.monotonic()
                await self.publish_agent(client)
            case SessionEnded() if remote is not None:
                client.remote = None
            case PeerReconnecting() if remote is not None:
                remote.told_dropped = True
            case Error(ref="accept" | "resume") if remote is not None and not remote.matched:
                client.remote = None
                await self.publish_agent(client)
            case _:
                pass

    async def broadcast_close(self, kind: str, what: dict[str, str]) -> None:
        """Close an account's (or a sign-in's) sockets on every other node too."""
        for node in self.registry.peers:
            await self.bus.send(node, Envelope(kind, origin=self.node, party=what))
