"""Resuming a call a server restart interrupted: the session back at its stored step.

A call under way when the server died is marked ``interrupted`` at the next start and
its recording part is closed (``signaling.closing``); its workflow step and context are
kept. The kiosk may then ``resume``: the session goes back to the head of the queue at
the same step, and the next agent's call is recorded as the session's next part.
"""

from __future__ import annotations

from typing import Any

from storage import Database, NotFound, SessionStatus, SessionView
from workflow import Flow, FlowContext, get_flow

from .errors import OutOfOrder, SignalingError, Unauthorised
from .session import Client, EvidenceLedger, LiveSession


async def _own(db: Database, client: Client, session_id: str, status: SessionStatus) -> SessionView:
    """The kiosk's own stored session, if it is in ``status``."""
    try:
        stored = (await db.get_session(session_id)).session
    except NotFound:
        raise SignalingError(f'session "{session_id}" does not exist') from None
    if stored.kiosk_name != client.name:
        raise Unauthorised("a kiosk may resume only its own sessions")
    if stored.status != status:
        raise OutOfOrder("resume", f"session {stored.status}")
    return stored


async def load_queued(
    db: Database, flows: dict[str, Flow], client: Client, session_id: str
) -> LiveSession:
    """The kiosk's session that waited in the queue on another node, as its own again."""
    stored = await _own(db, client, session_id, SessionStatus.WAITING)
    return _live(stored, flows, client)


async def load_interrupted(
    db: Database, flows: dict[str, Flow], client: Client, session_id: str
) -> LiveSession:
    """The kiosk's own interrupted session, at its stored step, as the next recording part."""
    stored = await _own(db, client, session_id, SessionStatus.INTERRUPTED)
    return _live(
        stored,
        flows,
        client,
        # The stored context holds the ID number sealed: opened here for the guards.
        context=FlowContext(await db.workflow_context(stored.id)),
        part=stored.recording_parts + 1,
        evidence=EvidenceLedger(seq=await db.next_evidence_seq(stored.id) - 1),
    )


def _live(stored: SessionView, flows: dict[str, Flow], client: Client, **more: Any) -> LiveSession:
    """A live session for ``client`` at the stored session's step."""
    return LiveSession(
        id=stored.id,
        service=stored.service,
        flow=get_flow(flows, stored.flow),
        kiosk=client,
        state=stored.workflow_state,
        **more,
    )
