"""The call centre: who is connected, the queue, and the live sessions.

Every message from a kiosk or an agent arrives here parsed (signaling.protocol).
``CallCentre.handle`` checks that the sender may send it now, then carries it out:
queueing, pairing, negotiating with the media relay, advancing the workflow, ending the
call. Each call's state is its ``CallLifecycle``; other nodes are reached through
``nodes`` (a ``NodeLink``). Errors are raised for the server to turn into messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, assert_never

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import BackgroundTasks, Language, Party, Presence, Role
from jobs import JobQueue
from storage import Database
from storage.shipping import RecordingShipper
from workflow import Flow, get_flow

from .admission import CallerMessage, identify, permitted, welcome
from .announcer import TtsSettings
from .call import CallEvent, CallOutcome
from .closing import PartCloser
from .conductor import Conductor
from .errors import OutOfOrder, SignalingError
from .evidence import EvidenceKeeper
from .media_setup import MediaSetup
from .nodelink import NodeLink, OneNode
from .protocol import (
    Accept,
    Answer,
    EvidenceMessage,
    Hangup,
    IceCandidate,
    Join,
    Matched,
    Message,
    Offer,
    PeerReconnecting,
    PushDocument,
    RequestService,
    Resume,
    SessionEnded,
    WorkflowEventMessage,
)
from .protocol import Presence as PresenceMessage
from .queue import HandlingTimes, WaitingQueue
from .resume import load_interrupted
from .roster import Roster
from .session import Client, LiveSession

logger = logging.getLogger(__name__)
#: How long a kiosk whose media link closed is given for its socket to close too.
KIOSK_SOCKET_GRACE_S = 2.0


class CallCentre:
    """Pairs kiosks with agents and runs their sessions."""

    def __init__(
        self,
        db: Database,
        flows: dict[str, Flow],
        recordings_dir: Path,
        signing_key: Ed25519PrivateKey,
        *,
        segment_s: float = 10.0,
        jobs: JobQueue | None = None,
        tts: TtsSettings | None = None,
        shipper: RecordingShipper | None = None,
    ) -> None:
        self.db = db
        self.flows = flows
        self.signing_key = signing_key
        #: Ships finished recording files to object storage (None keeps them local).
        self.shipper = shipper
        self.roster = Roster()
        self.queue = WaitingQueue()
        #: The other nodes (none in the embedded default; see signaling.federation).
        self.nodes: NodeLink = OneNode(self.queue)
        self.sessions: dict[str, LiveSession] = {}
        #: Interrupted parts whose agent waits for the customer to resume, by session id.
        self.held: dict[str, LiveSession] = {}
        self.handling = HandlingTimes()
        self.media = MediaSetup(db, recordings_dir, segment_s=segment_s, shipper=shipper)
        self.keeper = EvidenceKeeper(db, recordings_dir)
        self.closer = PartCloser(
            db, self.keeper, recordings_dir, signing_key, jobs=jobs, shipper=shipper
        )
        self.conductor = Conductor(db, self.keeper, tts)
        self._background = BackgroundTasks("call centre")

    @property
    def composite_jobs(self) -> dict[str, Any]:
        """Composites being made, by recording folder."""
        return self.closer.composite_jobs

    # -- dispatch ----------------------------------------------------------------------

    async def handle(self, client: Client, message: Message) -> None:
        """Carry out one message from ``client``."""
        if isinstance(message, Join):
            await self._join(client, message)
            return
        if await self.nodes.route(client, message):
            return
        await self._dispatch(client, permitted(client.role, message))

    async def _dispatch(self, client: Client, message: CallerMessage) -> None:
        match message:
            case RequestService():
                await self._request_service(client, message)
            case Resume():
                await self._resume(client, message)
            case Accept():
                await self._accept(client, message)
            case PresenceMessage():
                await self._presence(client, message)
            case Offer():
                session = self._in_call(client, "offer")
                await client.send(Answer(sdp=await self.media.answer(session, client, message.sdp)))
            case IceCandidate():
                await self.media.add_candidate(
                    self._in_call(client, "ice_candidate"),
                    client,
                    message.candidate,
                    message.sdp_mid,
                    message.sdp_mline_index,
                )
            case WorkflowEventMessage():
                await self.conductor.on_event(
                    self._in_call(client, "workflow_event"), client, message
                )
            case EvidenceMessage():
                await self.conductor.on_evidence(self._in_call(client, "evidence"), client, message)
            case PushDocument():
                session = self._in_call(client, "push_document")
                await self.conductor.push_document(session, client, message.document_id)
            case Hangup():
                await self._hangup(client, message)
            case _:
                assert_never(message)

    async def _join(self, client: Client, message: Join) -> None:
        role = await identify(client, message, self.db)
        self.roster.add(client)
        await self.nodes.joined(client)
        logger.info("%s joined", client.label)
        await client.send(welcome(client, self.media.ice))
        if role is Role.AGENT:
            await self.roster.set_presence(client, Presence.AVAILABLE)
            await self._queue_changed()

    async def disconnect(self, client: Client) -> None:
        """The client's socket closed: leave the queue, end its call, or hold it.

        A kiosk that drops out of a call under way is held for: the recording part is
        closed as interrupted and the agent waits for the kiosk to ``resume``.
        """
        self.roster.discard(client)
        await self.nodes.gone(client)
        for held in list(self.held.values()):
            if held.agent is client:
                # The agent is gone: the part stays interrupted, resumable from the queue.
                self._release(held)
        session = client.session
        if session is not None and session.call.open:
            hold = (
                client is session.kiosk
                and session.agent is not None
                and session.recording
                and not session.step.terminal
            )
            if hold:
                await self.end_session(session, "kiosk connection lost", by=Party.KIOSK, hold=True)
            else:
                await self.end_session(session, f"{client.role} disconnected", by=client.role or "")
        logger.info("%s disconnected", client.label)

    # -- presence and the queue --------------------------------------------------------

    def _holding(self, client: Client) -> LiveSession | None:
        return next((s for s in self.held.values() if s.agent is client), None)

    async def _presence(self, client: Client, message: PresenceMessage) -> None:
        state = Presence(message.state)
        if state is Presence.BUSY:
            raise SignalingError('"busy" is set by the server while the agent is in a call')
        if client.session is not None or self._holding(client) is not None:
            raise OutOfOrder("presence", "in a call")
        await self.roster.set_presence(client, state)
        await self._queue_changed()

    async def _queue_changed(self) -> None:
        await self.queue.announce(self.roster, self.handling)

    def _one_session_per_kiosk(self, client: Client, what: str) -> None:
        """A kiosk device has one session at a time, whichever of its sockets asks."""
        if client.session is not None:
            raise OutOfOrder(what, client.session.call.state)
        for session in self.sessions.values():
            if session.kiosk.name == client.name and session.call.open:
                raise OutOfOrder(what, f"this kiosk's session is {session.call.state}")

    async def _request_service(self, client: Client, message: RequestService) -> None:
        self._one_session_per_kiosk(client, "request_service")
        flow = get_flow(self.flows, message.service)
        session = LiveSession(
            id=uuid.uuid4().hex,
            service=message.service,
            flow=flow,
            kiosk=client,
            state=flow.initial,
        )
        client.language = Language(message.language)
        await self.db.create_session(
            id=session.id,
            service=session.service,
            branch=client.branch,
            kiosk_name=client.name,
            flow=flow.name,
            workflow_state=flow.initial,
            created_at=datetime.now(UTC),
        )
        await self.requeue(session)
        logger.info("session %s: %s queued for %s", session.id, client.label, session.service)

    async def requeue(self, session: LiveSession) -> None:
        """Queue ``session``, owned by this node (new, or back from a node that died)."""
        session.kiosk.session = session
        self.sessions[session.id] = session
        await self.nodes.own(session)
        await self.queue.join(session)
        await self._queue_changed()

    async def _resume(self, client: Client, message: Resume) -> None:
        self._one_session_per_kiosk(client, "resume")
        if await self.nodes.resume(client, message):
            return
        live = self.sessions.get(message.session_id)
        if live is not None and not live.call.open:
            # The dropped connection is still being closed: resume once it is.
            await live.call.closed.wait()
        elif live is not None:
            raise OutOfOrder("resume", "the session is live")
        session = await load_interrupted(self.db, self.flows, client, message.session_id)
        client.language = Language(message.language)
        client.session = session
        self.sessions[session.id] = session
        await self.nodes.own(session)
        held = self.held.get(session.id)
        agent = await self.nodes.held_agent(session.id) if held is None else held.agent
        if held is not None:
            self._release(held)
        if agent is not None and agent in self.roster and agent.session is None:
            # The same agent waited for this customer: the call goes straight on.
            logger.info("session %s: %s is back (part %d)", session.id, client.label, session.part)
            await self.match(session, agent)
            return
        # Back to the head of the queue: this customer has waited once already.
        await self.queue.join(session, front=True)
        where = f"{session.state} (part {session.part})"
        logger.info("session %s: %s resumes at %s", session.id, client.label, where)
        await self._queue_changed()

    async def _accept(self, client: Client, message: Accept) -> None:
        if client.session is not None or self._holding(client) is not None:
            raise OutOfOrder("accept", "in a call")
        if client.presence is not Presence.AVAILABLE:
            raise OutOfOrder("accept", f"presence {client.presence}")
        session = await self.nodes.claim(client, message.offer_id)
        if session is not None:  # else its owner, another node, matches
            await self.match(session, client)
            await self._queue_changed()

    async def match(self, session: LiveSession, agent: Client) -> None:
        """Pair ``session``'s kiosk with ``agent``: both now negotiate with the relay."""
        session.call.fire(CallEvent.MATCH)
        session.agent = agent
        agent.session = session
        await self.roster.set_presence(agent, Presence.BUSY)
        session.relay = self.media.relay_for(
            session,
            on_connected=lambda: session.tasks.spawn(self._connected(session)),
            on_failed=lambda by, why: self._background.spawn(self._media_failed(session, by, why)),
        )
        logger.info("session %s: %s accepted %s", session.id, agent.label, session.kiosk.label)
        for party, peer in ((session.kiosk, agent), (agent, session.kiosk)):
            await party.send(
                Matched(
                    session_id=session.id,
                    service=session.service,
                    flow=session.flow.name,
                    state=session.state,
                    peer=peer.name,
                    ice_servers=self.media.ice_servers(party),
                )
            )
        await self.conductor.send_state(session, event=None)

    async def _connected(self, session: LiveSession) -> None:
        if await self.media.start_recording(session):
            # The step's time (and its timeout) runs from when the call is up.
            self.conductor.step_started(session, restart=True)

    async def _media_failed(self, session: LiveSession, by: str, why: str) -> None:
        """A party's media link failed: the call ends, unless it is a kiosk's whose socket
        closes too a moment later (a reload, the network): a drop, held for it to resume."""
        if by == Party.KIOSK:
            await asyncio.sleep(KIOSK_SOCKET_GRACE_S)
        await self.end_session(session, why, by=by)

    def _in_call(self, client: Client, what: str) -> LiveSession:
        session = client.session
        if session is None:
            raise OutOfOrder(what, "not in a call")
        if session.agent is None:
            raise OutOfOrder(what, "waiting in the queue")
        return session

    # -- ending ------------------------------------------------------------------------

    async def _hangup(self, client: Client, message: Hangup) -> None:
        held = self._holding(client)
        if client.session is None and held is not None:
            # The agent gives up waiting for the customer to come back.
            del self.held[held.id]
            held.call.fire(CallEvent.GIVE_UP)
            await self.nodes.disown(held)
            await self.db.end_session(
                held.id, ended_at=datetime.now(UTC), end_reason=message.reason, status="ended"
            )
            logger.info("session %s: ended by agent while held (%s)", held.id, message.reason)
            await client.send(SessionEnded(session_id=held.id, reason=message.reason, by="agent"))
            await self.roster.set_presence(client, Presence.AFTER_CALL)
            return
        if client.session is None:
            raise OutOfOrder("hangup", "not in a call")
        await self.end_session(client.session, message.reason, by=client.role or "")

    def _release(self, held: LiveSession) -> None:
        """The held part's agent stops waiting (the customer resumed, or the agent left)."""
        self.held.pop(held.id, None)
        held.call.fire(CallEvent.RELEASE)

    async def end_session(
        self, session: LiveSession, reason: str, *, by: str, hold: bool = False
    ) -> None:
        """End the call: close the recording, store it, tell both parties.

        With ``hold`` (the kiosk dropped mid-call) the part ends interrupted and the agent
        waits for the kiosk to resume.
        """
        if not session.call.open:
            return
        session.call.fire(CallEvent.CLOSE)
        self.conductor.stop(session)
        if await self.queue.leave(session):
            await self._queue_changed()
        outcome = await self.closer.close_part(session, reason, hold=hold)
        if session.t0 is not None:
            self.handling.add(time.time() - session.t0)
        logger.info("session %s: ended by %s (%s)", session.id, by, reason)
        self.sessions.pop(session.id, None)
        agent = session.agent
        session.kiosk.session = None
        if agent is not None:
            agent.session = None
        if outcome is CallOutcome.INTERRUPTED and agent is not None and agent in self.roster:
            # The agent stays with the call until the kiosk is back (or gives up).
            self.held[session.id] = session
            session.call.fire(CallEvent.HOLD)
            await self.roster.tell([agent], PeerReconnecting(session_id=session.id, party="kiosk"))
            return
        session.call.finish(outcome)
        await self.nodes.disown(session)
        ended = SessionEnded(session_id=session.id, reason=reason, by=by)
        await self.roster.tell(session.parties(), ended)
        if agent is not None and agent in self.roster:
            await self.roster.set_presence(agent, Presence.AFTER_CALL)
        await self._queue_changed()

    async def shutdown(self) -> None:
        """End every live session (server shutting down): recordings are closed cleanly."""
        for session in list(self.sessions.values()):
            await self.end_session(session, "server shutting down", by="server")
        await self._background.join()
        await self.closer.finish()
