"""When a node dies, when this node was taken for dead, when Redis forgets.

A dead node's calls: one survivor (``reap``) marks the calls under way interrupted and
closes their recording parts from the shared recordings folder, and sets its waiting
customers aside with their places; every node (``beat``) lets its agents of those calls
wait for their customers and resumes its kiosks of them. A node that was frozen and
finds itself declared dead leaves without writing (``fenced``). After Redis restarted,
each node tells it again what it has (``reset``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from common import Presence, Role
from media import MediaError

from . import cluster_view
from .closing import close_interrupted_part
from .overview import CentreOverview
from .protocol import PeerReconnecting, Resume, SessionEnded
from .server import error_message
from .session import Client, RemoteCall

if TYPE_CHECKING:
    from .federation import Federation

logger = logging.getLogger(__name__)

#: How long a kiosk whose call's owner died waits to resume, while a survivor cleans up.
RESCUE_S = 30.0
#: How long a held agent's claim on an interrupted session is kept in Redis.
HELD_S = 3600


async def beat(fed: Federation) -> None:
    """Each heartbeat: notice calls whose owner died; refresh the queue we show."""
    for client in list(fed.local.values()):
        remote = client.remote
        if remote is None or remote.owner is None or fed.registry.alive(remote.owner):
            continue
        if client.role is Role.AGENT and remote.matched:
            # The customer will come back on some node: this agent waits for them.
            remote.owner = None
            await fed.redis.set(fed.keys.held(remote.session_id), fed.agent_key(client), ex=HELD_S)
            if not remote.told_dropped:
                remote.told_dropped = True
                await client.send(PeerReconnecting(session_id=remote.session_id, party="kiosk"))
        elif client.role is Role.AGENT:
            client.remote = None  # the claim died with the customer's node
            await fed.publish_agent(client)
        else:
            client.remote = None
            fed.tasks.spawn(rescue(fed, client, remote.session_id))
    await fed.centre.queue.announce(fed.centre.roster, fed.centre.handling)
    calls = CentreOverview(fed.centre).local_calls()
    fed.seen = await cluster_view.refresh(fed, [call.to_json() for call in calls])


async def rescue(fed: Federation, kiosk: Client, session_id: str) -> None:
    """Resume a kiosk whose call's node died, once a survivor has cleaned up."""
    deadline = time.monotonic() + RESCUE_S
    while time.monotonic() < deadline and kiosk.id in fed.local:
        owner = await fed.redis.hget(fed.keys.call(session_id), "owner")
        if owner is None or fed.registry.alive(owner):
            resume = Resume(session_id=session_id, language=kiosk.language.value)
            try:
                await fed.centre.handle(kiosk, resume)
            except Exception as exc:
                await kiosk.send(error_message(exc, "resume"))
            return
        await asyncio.sleep(0.5)


async def reap(fed: Federation, node: str) -> None:
    """A dead node's calls: queued ones keep their places, live ones are interrupted."""
    sessions = await fed.redis.smembers(fed.keys.node_calls(node))
    waiting = [s for s in sessions if await fed.redis.exists(fed.keys.entry(s))]
    await fed.shared.set_aside(waiting)
    in_call = sorted(set(sessions) - set(waiting))
    db = fed.centre.db
    interrupted, _ = await db.interrupt_open_sessions(
        f"node {node} stopped", datetime.now(UTC), only=in_call
    )
    for session_id in in_call:
        try:
            await close_interrupted_part(db, fed.recordings_dir, session_id, fed.signing_key)
        except (MediaError, OSError) as exc:
            logger.error("session %s: the interrupted part cannot be closed: %s", session_id, exc)
    agents = [key for key in await fed.shared.agents() if key.startswith(f"{node}/")]
    await fed.shared.agent_gone(*agents)
    async with fed.redis.pipeline(transaction=True) as pipe:
        for session_id in sessions:
            pipe.delete(fed.keys.call(session_id))
        pipe.delete(fed.keys.node_calls(node), fed.keys.stream(node))
        await pipe.execute()
    logger.warning(
        "node %s: %d calls interrupted, %d waiting kept their places",
        node,
        len(interrupted),
        len(waiting),
    )


async def reset(fed: Federation) -> None:
    """Redis lost everything: tell it again what this node has."""
    for client in list(fed.local.values()):
        await fed.publish_agent(client)
        if client.remote is not None and client.remote.owner is None:
            await fed.redis.set(
                fed.keys.held(client.remote.session_id), fed.agent_key(client), ex=HELD_S
            )
    for session in list(fed.centre.sessions.values()):
        await fed.own(session)
    for session in list(fed.centre.held.values()):
        await fed.own(session)
    await fed.queue.republish()
    await fed.centre.queue.announce(fed.centre.roster, fed.centre.handling)


async def fenced(fed: Federation) -> None:
    """This node was declared dead while frozen: its calls are others' now. Leave.

    Nothing is written: the recorders already stopped when the lease ran out, and the
    process exits at once so that its sockets close and every party reconnects to a
    live node. Its supervisor starts it again, as a new incarnation.
    """
    logger.critical("node %s lost its calls to the other nodes: exiting", fed.node)
    logging.shutdown()
    os._exit(70)


async def give_up(fed: Federation, agent: Client, remote: RemoteCall, reason: str) -> None:
    """A held agent (its call's node died) stops waiting for the customer."""
    agent.remote = None
    await fed.redis.delete(fed.keys.held(remote.session_id))
    await fed.centre.db.end_session(
        remote.session_id, ended_at=datetime.now(UTC), end_reason=reason, status="ended"
    )
    await agent.send(SessionEnded(session_id=remote.session_id, reason=reason, by="agent"))
    await fed.centre.roster.set_presence(agent, Presence.AFTER_CALL)
