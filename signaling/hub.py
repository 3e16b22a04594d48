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
from storage import Database
from workflow import Flow, get_flow

from .archive import close_archive
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
    QueuePosition,
    QueueState,
    RequestService,
    Resume,
    SessionEnded,
    WorkflowEventMessage,
)
from .recovery import load_interrupted
from .session import Client, LiveSession

logger = logging.getLogger(__name__)

#: Which messages each role may send once joined.
PERMISSIONS: dict[str, frozenset[str]] = {
    "kiosk": frozenset(
        {"request_service", "resume", "offer", "ice_candidate", "evidence", "hangup"}
    ),
    "agent": frozenset({"accept", "offer", "ice_candidate", "workflow_event", "hangup"}),
}


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
    ) -> None:
        self.db = db
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
            article = "an" if client.role[0] in "aeiou" else "a"
            raise Unauthorised(f'{article} {client.role} may not send "{message.type}"')
        handler = getattr(self, f"_on_{message.type}")
        await handler(client, message)

    async def _join(self, client: Client, message: Join) -> None:
        if client.role is not None:
            raise OutOfOrder("join", f"joined as {client.role}")
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
            await client.send(self.queue_state())

    async def disconnect(self, client: Client) -> None:
        """The client's socket closed: leave the queue or end its call."""
        self.clients.discard(client)
        session = client.session
        if session is not None and not session.ended:
            await self.end_session(session, f"{client.role} disconnected", by=client.role or "")
        logger.info("%s disconnected", client.label)

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
        if message.session_id in self.sessions:
            raise OutOfOrder("resume", "the session is live")
        session = await load_interrupted(self.db, self.flows, client, message.session_id)
        client.language = message.language
        client.session = session
        self.sessions[session.id] = session
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
            s.kiosk.send(QueuePosition(session_id=s.id, position=i, waiting=len(self.queue)))
            for i, s in enumerate(self.queue, start=1)
        ]
        state = self.queue_state()
        sends += [c.send(state) for c in self.clients if c.role == "agent" and c.session is None]
        await asyncio.gather(*sends, return_exceptions=True)

    async def _on_accept(self, client: Client, message: Accept) -> None:
        if client.session is not None:
            raise OutOfOrder("accept", "in a call")
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
        session.agent = client
        client.session = session
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
        await self._queue_changed()

    # -- media -------------------------------------------------------------------------

    def _make_relay(self, session: LiveSession) -> SessionRelay:
        def on_segment(info: SegmentInfo) -> None:
            self._track(session, self._save_segment(session, info))

        recorder = SessionRecorder(
            self.recordings_dir / session.directory,
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
            path=f"{session.directory}/{info.path}",
            part=session.part,
            codec=info.codec,
            bytes=info.bytes,
            sha256=info.sha256,
            frames=info.frames,
            start_ms=info.start_ms,
            end_ms=info.end_ms,
            closed=info.closed,
        )

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

    # -- ending ------------------------------------------------------------------------

    async def _on_hangup(self, client: Client, message: Hangup) -> None:
        session = client.session
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
        await self.db.end_session(
            session.id, ended_at=datetime.now(UTC), end_reason=reason, status=status
        )
        if session.relay is not None and session.t0 is not None:
            await self._close_archive(session)
        logger.info("session %s: ended by %s (%s)", session.id, by, reason)
        ended = SessionEnded(session_id=session.id, reason=reason, by=by)
        for party in (session.kiosk, session.agent):
            if party is not None:
                party.session = None
                if party in self.clients:
                    await asyncio.gather(party.send(ended), return_exceptions=True)
        self.sessions.pop(session.id, None)
        await self._queue_changed()

    async def _close_archive(self, session: LiveSession) -> None:
        """Sign the archive now; make the composite in the background, then sign again."""
        assert session.relay is not None
        chain = session.relay.recorder.chain
        if chain is None:
            return
        detail = await self.db.get_session(session.id)
        job = await close_archive(
            self.recordings_dir / session.directory,
            detail,
            session.flow,
            chain,
            self.signing_key,
            composites=self.composites,
            timezone=self.timezone,
            part=session.part,
        )
        if job is not None:
            self.composite_jobs[session.directory] = job
            job.add_done_callback(lambda _: self.composite_jobs.pop(session.directory, None))

    async def shutdown(self) -> None:
        """End every live session (server shutting down): recordings are closed cleanly."""
        for session in list(self.sessions.values()):
            await self.end_session(session, "server shutting down", by="server")
        await asyncio.gather(*list(self._background), return_exceptions=True)
        # Composites under way are finished: they are quick next to a call.
        await asyncio.gather(*list(self.composite_jobs.values()), return_exceptions=True)
