"""The call centre: who is connected, the queue, and the live sessions.

Every message from a kiosk or an agent arrives here already parsed (see
signaling.protocol). ``CallCentre.handle`` checks that the sender may send it now,
then carries it out: queueing, pairing, negotiating with the media relay, advancing
the workflow and ending the call. It raises SignalingError (and lets WorkflowError,
MediaError and StorageError through) for the server to turn into ``error`` messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from media import SegmentInfo, SessionRecorder, SessionRelay
from storage import Database, audit
from storage.shipping import RecordingShipper
from workflow import Flow, get_flow

from .closing import close_recording
from .conductor import Conductor, TtsSettings
from .errors import OutOfOrder, SignalingError, Unauthorised
from .evidence import EvidenceKeeper
from .protocol import (
    Accept,
    Answer,
    EvidenceMessage,
    Hangup,
    IceCandidate,
    Join,
    Joined,
    Matched,
    Message,
    Offer,
    PeerReconnecting,
    Presence,
    PushDocument,
    QueuePosition,
    QueueState,
    RequestService,
    Resume,
    SessionEnded,
    WorkflowEventMessage,
)
from .resume import load_interrupted
from .session import Client, LiveSession
from .webauth import a

logger = logging.getLogger(__name__)

#: Which messages each role may send once joined.
PERMISSIONS: dict[str, frozenset[str]] = {
    "kiosk": frozenset(
        {"request_service", "resume", "offer", "ice_candidate", "evidence", "hangup"}
    ),
    "agent": frozenset(
        {
            "accept",
            "presence",
            "offer",
            "ice_candidate",
            "workflow_event",
            "push_document",
            "hangup",
        }
    ),
}
#: The handling time assumed for the wait estimate until a call has ended today.
DEFAULT_HANDLING_S = 600.0


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
        composites: Executor | None = None,
        timezone: str = "Asia/Shanghai",
        tts: TtsSettings | None = None,
        shipper: RecordingShipper | None = None,
    ) -> None:
        self.db = db
        #: Ships finished recording files to object storage (None keeps them local).
        self.shipper = shipper
        self.signing_key = signing_key
        #: Where composites are made (a process pool); None makes none.
        self.composites = composites
        self.timezone = timezone
        self.composite_jobs: dict[str, asyncio.Future[Any]] = {}
        self.flows = flows
        self.recordings_dir = recordings_dir
        self.segment_s = segment_s
        self.clients: set[Client] = set()
        self.queue: list[LiveSession] = []
        self.sessions: dict[str, LiveSession] = {}
        self._background: set[asyncio.Task[Any]] = set()
        #: Agents whose customer's connection dropped, by session id, waiting for a resume.
        self.held: dict[str, Client] = {}
        #: Lengths of the calls ended today (seconds), for the queue's wait estimate.
        self._handled: list[float] = []
        self._handled_day = datetime.now(UTC).date()
        self.keeper = EvidenceKeeper(db, recordings_dir)
        self.conductor = Conductor(db, self.keeper, self._track, tts)

    # -- dispatch ----------------------------------------------------------------------

    async def handle(self, client: Client, message: Message) -> None:
        """Carry out one message from ``client``."""
        if isinstance(message, Join):
            await self._join(client, message)
            return
        if client.role is None:
            raise Unauthorised(f'join first: "{message.type}" needs a joined kiosk or agent')
        if message.type not in PERMISSIONS[client.role]:
            raise Unauthorised(f'{a(client.role)} may not send "{message.type}"')
        handler = getattr(self, f"_on_{message.type}")
        await handler(client, message)

    async def _join(self, client: Client, message: Join) -> None:
        if client.role is not None:
            raise OutOfOrder("join", f"joined as {client.role}")
        if message.token is None:
            user = client.web_user
            if user is None:
                raise Unauthorised("join needs a token, or a signed-in page of this server")
            if user.role != message.role:
                raise Unauthorised(f"a signed-in {user.role} may not join as {a(message.role)}")
            client.role, client.name, client.branch = user.role, user.name, user.branch
        else:
            credential = await self.db.authenticate(message.token)
            if credential is None or credential.role != message.role:
                raise Unauthorised(f"the token is not valid for a {message.role}")
            client.role, client.name, client.branch = (
                credential.role,
                credential.name,
                credential.branch,
            )
        self.clients.add(client)
        logger.info("%s joined", client.label)
        await client.send(Joined(role=client.role, name=client.name, branch=client.branch))
        if client.role == "agent":
            await self._set_presence(client, "available")
            await self._queue_changed()

    async def disconnect(self, client: Client) -> None:
        """The client's socket closed: leave the queue, end its call, or hold it.

        A kiosk that drops out of a call under way is held for: the recording part is
        closed as interrupted and the agent waits for the kiosk to ``resume``.
        """
        self.clients.discard(client)
        for session_id, agent in list(self.held.items()):
            if agent is client:
                del self.held[session_id]
        session = client.session
        if session is not None and not session.ended:
            held = (
                client is session.kiosk
                and session.agent is not None
                and session.t0 is not None
                and not session.step.terminal
            )
            if held:
                session.dropped = True
                await self.end_session(session, "kiosk connection lost", by="kiosk")
            else:
                await self.end_session(session, f"{client.role} disconnected", by=client.role or "")
        logger.info("%s disconnected", client.label)

    # -- presence ----------------------------------------------------------------------

    async def _set_presence(self, client: Client, state: str) -> None:
        if client.presence != state:
            logger.info("%s: %s -> %s", client.label, client.presence, state)
            client.presence, client.presence_since = state, time.monotonic()
        await client.send(Presence(state=state))

    async def _on_presence(self, client: Client, message: Presence) -> None:
        if message.state == "busy":
            raise SignalingError('"busy" is set by the server while the agent is in a call')
        if client.session is not None or client in self.held.values():
            raise OutOfOrder("presence", "in a call")
        await self._set_presence(client, message.state)
        await self._queue_changed()

    def agents_overview(self) -> list[dict[str, Any]]:
        """Every connected agent's presence and call, for supervisors."""
        now = time.monotonic()
        return [
            {
                "name": c.name,
                "presence": c.presence,
                "session_id": None if c.session is None else c.session.id,
                "service": None if c.session is None else c.session.service,
                "since_s": round(now - c.presence_since),
            }
            for c in sorted(self.clients, key=lambda c: c.name)
            if c.role == "agent"
        ]

    def estimated_wait_s(self, position: int) -> int:
        """A customer's expected wait at ``position``: today's mean call over the agents."""
        today = datetime.now(UTC).date()
        if today != self._handled_day:
            self._handled, self._handled_day = [], today
        mean = sum(self._handled) / len(self._handled) if self._handled else DEFAULT_HANDLING_S
        working = sum(
            1 for c in self.clients if c.role == "agent" and c.presence in ("available", "busy")
        )
        return round(position * mean / max(working, 1))

    # -- queue -------------------------------------------------------------------------

    async def _on_request_service(self, client: Client, message: RequestService) -> None:
        if client.session is not None:
            raise OutOfOrder(
                "request_service", "queued" if client.session.agent is None else "in a call"
            )
        flow = get_flow(self.flows, message.service)
        session = LiveSession(
            id=uuid.uuid4().hex,
            service=message.service,
            flow=flow,
            kiosk=client,
            state=flow.initial,
        )
        client.language = message.language
        client.session = session
        await self.db.create_session(
            id=session.id,
            service=session.service,
            branch=client.branch,
            kiosk_name=client.name,
            flow=flow.name,
            workflow_state=flow.initial,
            created_at=datetime.now(UTC),
        )
        self.sessions[session.id] = session
        self.queue.append(session)
        logger.info("session %s: %s queued for %s", session.id, client.label, session.service)
        await self._queue_changed()

    async def _on_resume(self, client: Client, message: Resume) -> None:
        if client.session is not None:
            raise OutOfOrder("resume", "queued" if client.session.agent is None else "in a call")
        live = self.sessions.get(message.session_id)
        if live is not None and live.ended:
            # The dropped connection is still being closed: resume once it is.
            await live.closed.wait()
        elif live is not None:
            raise OutOfOrder("resume", "the session is live")
        session = await load_interrupted(self.db, self.flows, client, message.session_id)
        client.language = message.language
        client.session = session
        self.sessions[session.id] = session
        agent = self.held.pop(session.id, None)
        if agent is not None and agent in self.clients and agent.session is None:
            # The same agent waited for this customer: the call goes straight on.
            logger.info("session %s: %s is back (part %d)", session.id, client.label, session.part)
            await self._match(session, agent)
            return
        # Back to the head of the queue: this customer has waited once already.
        self.queue.insert(0, session)
        logger.info(
            "session %s: %s resumes at %s (part %d)",
            session.id,
            client.label,
            session.state,
            session.part,
        )
        await self._queue_changed()

    def queue_state(self) -> QueueState:
        """The waiting customers, as agents see them."""
        now = time.monotonic()
        return QueueState(waiting=[session.queue_entry(now) for session in self.queue])

    async def _queue_changed(self) -> None:
        sends = [
            s.kiosk.send(
                QueuePosition(
                    session_id=s.id,
                    position=i,
                    waiting=len(self.queue),
                    estimated_wait_s=self.estimated_wait_s(i),
                )
            )
            for i, s in enumerate(self.queue, start=1)
        ]
        state = self.queue_state()
        sends += [
            c.send(state)
            for c in self.clients
            if c.role == "agent" and c.session is None and c.presence == "available"
        ]
        await asyncio.gather(*sends, return_exceptions=True)

    async def _on_accept(self, client: Client, message: Accept) -> None:
        if client.session is not None or client in self.held.values():
            raise OutOfOrder("accept", "in a call")
        if client.presence != "available":
            raise OutOfOrder("accept", f"presence {client.presence}")
        if not self.queue:
            raise OutOfOrder("accept", "queue empty")
        if message.session_id is None:
            session = self.queue[0]
        else:
            found = [s for s in self.queue if s.id == message.session_id]
            if not found:
                raise SignalingError(f'session "{message.session_id}" is not waiting')
            session = found[0]
        self.queue.remove(session)
        await self._match(session, client)
        await self._queue_changed()

    async def _match(self, session: LiveSession, client: Client) -> None:
        """Pair ``session``'s kiosk with agent ``client``: both now negotiate with the relay."""
        session.agent = client
        client.session = session
        await self._set_presence(client, "busy")
        session.relay = self._make_relay(session)
        logger.info("session %s: %s accepted %s", session.id, client.label, session.kiosk.label)
        for party, peer in ((session.kiosk, client), (client, session.kiosk)):
            await party.send(
                Matched(
                    session_id=session.id,
                    service=session.service,
                    flow=session.flow.name,
                    state=session.state,
                    peer=peer.name,
                )
            )
        await self.conductor.send_state(session, event=None)

    # -- media -------------------------------------------------------------------------

    def _make_relay(self, session: LiveSession) -> SessionRelay:
        def on_segment(info: SegmentInfo) -> None:
            self._track(session, self._save_segment(session, info))

        recorder = SessionRecorder(
            session.layout.directory(self.recordings_dir),
            segment_s=self.segment_s,
            request_keyframe=lambda party: relay.request_keyframe(party),
            on_segment=on_segment,
        )
        relay = SessionRelay(
            session.id,
            recorder,
            on_connected=lambda: self._track(session, self._connected(session)),
            on_failed=lambda party, state: self._spawn(
                self.end_session(session, f"{party} connection {state}", by=party)
            ),
        )
        return relay

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _track(self, session: LiveSession, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        session.pending.add(task)
        task.add_done_callback(session.pending.discard)

    async def _save_segment(self, session: LiveSession, info: SegmentInfo) -> None:
        await self.db.save_recording_file(
            session.id,
            party=info.party,
            kind=info.kind,
            seq=info.seq,
            path=session.layout.path_of(info.path),
            part=session.part,
            codec=info.codec,
            bytes=info.bytes,
            sha256=info.sha256,
            frames=info.frames,
            start_ms=info.start_ms,
            end_ms=info.end_ms,
            closed=info.closed,
        )
        if self.shipper is not None and info.closed:
            self.shipper.ship(session.recording_ref(), info.path, info.sha256)

    async def _connected(self, session: LiveSession) -> None:
        if session.ended or session.relay is None or session.agent is None:
            return
        session.t0 = session.relay.start_recording()
        logger.info("session %s: both parties connected, recording", session.id)
        await self.db.start_session(
            session.id,
            agent_name=session.agent.name,
            started_at=datetime.fromtimestamp(session.t0, UTC),
            recording_dir=session.id,
        )
        # The step's time (and its timeout) runs from when the call is up.
        session.step_entered = datetime.now(UTC)
        self.conductor.step_started(session)

    async def _on_offer(self, client: Client, message: Offer) -> None:
        session = self._in_call(client, "offer")
        assert session.relay is not None
        party = session.party_of(client)
        if session.relay.links[party].negotiated:
            raise OutOfOrder("offer", "already negotiated")
        sdp = await session.relay.answer(party, message.sdp)
        await client.send(Answer(sdp=sdp))

    async def _on_ice_candidate(self, client: Client, message: IceCandidate) -> None:
        session = self._in_call(client, "ice_candidate")
        assert session.relay is not None
        link = session.relay.links[session.party_of(client)]
        if not link.negotiated:
            raise OutOfOrder("ice_candidate", "no offer yet")
        await link.add_ice_candidate(message.candidate, message.sdp_mid, message.sdp_mline_index)

    def _in_call(self, client: Client, what: str) -> LiveSession:
        session = client.session
        if session is None:
            raise OutOfOrder(what, "not in a call")
        if session.agent is None:
            raise OutOfOrder(what, "waiting in the queue")
        return session

    # -- workflow ----------------------------------------------------------------------

    async def _on_workflow_event(self, client: Client, message: WorkflowEventMessage) -> None:
        await self.conductor.on_event(self._in_call(client, "workflow_event"), client, message)

    async def _on_evidence(self, client: Client, message: EvidenceMessage) -> None:
        await self.conductor.on_evidence(self._in_call(client, "evidence"), client, message)

    async def _on_push_document(self, client: Client, message: PushDocument) -> None:
        session = self._in_call(client, "push_document")
        document = self.conductor.document(session, message.document_id)
        logger.info("session %s: document %s pushed", session.id, document.id)
        await session.kiosk.send(document)
        await client.send(document)

    # -- ending ------------------------------------------------------------------------

    async def _on_hangup(self, client: Client, message: Hangup) -> None:
        session = client.session
        held = [sid for sid, agent in self.held.items() if agent is client]
        if session is None and held:
            # The agent gives up waiting for the customer to come back.
            del self.held[held[0]]
            await self.db.end_session(
                held[0], ended_at=datetime.now(UTC), end_reason=message.reason, status="ended"
            )
            logger.info("session %s: ended by agent while held (%s)", held[0], message.reason)
            await client.send(SessionEnded(session_id=held[0], reason=message.reason, by="agent"))
            await self._set_presence(client, "after_call")
            return
        if session is None:
            raise OutOfOrder("hangup", "not in a call")
        await self.end_session(session, message.reason, by=client.role or "")

    async def end_session(self, session: LiveSession, reason: str, *, by: str) -> None:
        """End the call: close the recording, store it, tell both parties."""
        if session.ended:
            return
        session.ended = True
        self.conductor.stop(session)
        if session in self.queue:
            self.queue.remove(session)
            await self._queue_changed()
        status = "ended"
        if session.relay is not None:
            await session.relay.close()
            if session.relay.recorder.errors:
                status = "failed"
        # Segment rows and workflow events are written before the session is closed.
        while session.pending:
            await asyncio.gather(*list(session.pending), return_exceptions=True)
        # A change under way (evidence being written) finishes before the archive closes.
        async with session.lock:
            await self.keeper.chain_pending(session)
        if session.dropped and status == "ended":
            status = "interrupted"
        await self.db.end_session(
            session.id, ended_at=datetime.now(UTC), end_reason=reason, status=status
        )
        if status != "interrupted":
            step = session.step
            await audit.note_session_facts(
                self.db, session.id, session.context.to_dict(), step.name if step.terminal else None
            )
        if session.relay is not None and session.t0 is not None:
            self._handled.append(time.time() - session.t0)
            await self._close_archive(session)
        logger.info("session %s: ended by %s (%s)", session.id, by, reason)
        agent = session.agent
        if session.dropped and agent is not None and agent in self.clients:
            # The agent stays with the call until the kiosk is back (or gives up).
            agent.session = None
            self.held[session.id] = agent
            session.kiosk.session = None
            await asyncio.gather(
                agent.send(PeerReconnecting(session_id=session.id, party="kiosk")),
                return_exceptions=True,
            )
            self.sessions.pop(session.id, None)
            session.closed.set()
            return
        ended = SessionEnded(session_id=session.id, reason=reason, by=by)
        for party in (session.kiosk, agent):
            if party is not None:
                party.session = None
                if party in self.clients:
                    await asyncio.gather(party.send(ended), return_exceptions=True)
        if agent is not None and agent in self.clients:
            await asyncio.gather(self._set_presence(agent, "after_call"), return_exceptions=True)
        self.sessions.pop(session.id, None)
        session.closed.set()
        await self._queue_changed()

    async def _close_archive(self, session: LiveSession) -> None:
        """Sign the archive now; make the composite in the background, then sign again."""
        assert session.relay is not None
        chain = session.relay.recorder.chain
        if chain is None:
            return
        job = await close_recording(
            self.db,
            self.recordings_dir,
            session.layout,
            session.flow,
            chain,
            self.signing_key,
            composites=self.composites,
            timezone=self.timezone,
        )
        if job is not None:
            folder = session.layout.folder
            self.composite_jobs[folder] = job
            job.add_done_callback(lambda _: self.composite_jobs.pop(folder, None))
        if self.shipper is not None:  # the archive now, the composite when it is made
            self.shipper.archive_closed(session.recording_ref(), job)

    async def shutdown(self) -> None:
        """End every live session (server shutting down): recordings are closed cleanly."""
        for session in list(self.sessions.values()):
            await self.end_session(session, "server shutting down", by="server")
        await asyncio.gather(*list(self._background), return_exceptions=True)
        # Composites under way are finished: they are quick next to a call.
        await asyncio.gather(*list(self.composite_jobs.values()), return_exceptions=True)
