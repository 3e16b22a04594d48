"""A call's media: its relay and recorder, the negotiation with each party, segment rows.

The relay and recorder are ``media``'s; this module builds them for a session, answers
each party's offer and trickled candidates, and stores each recording segment's row as
it is written (and ships it once closed). A recording the disk cannot take any more
ends its call as failed, both parties told why (``recording_failed``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from media import SegmentInfo, SessionRecorder, SessionRelay
from media.counts import FrameCounts
from media.space import SpaceReserve
from observability import Metrics
from storage import Database
from storage.shipping import RecordingShipper

from .call import CallEvent, CallState
from .errors import OutOfOrder, RecordingFailed
from .ice import IceServers
from .live_flags import watch_customer
from .protocol import Error
from .session import Client, LiveSession

logger = logging.getLogger(__name__)


class MediaSetup:
    """Builds the relay of each call and keeps its recording's rows."""

    def __init__(
        self,
        db: Database,
        recordings_dir: Path,
        *,
        segment_s: float,
        shipper: RecordingShipper | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.recordings_dir = recordings_dir
        self.segment_s = segment_s
        self.shipper = shipper
        #: Whether this node may still write recordings (among several: while its lease
        #: holds; see cluster.nodes).
        self.may_write: Callable[[], bool] = lambda: True
        #: Where queue waits and pairing times are observed (the app sets its node's).
        self.metrics = Metrics() if metrics is None else metrics
        #: Frames taken, forwarded, recorded and dropped by every relay made here.
        self.frames = FrameCounts()
        #: The STUN/TURN servers the relays use (the app sets the configured ones); none
        #: by default, and never a public one.
        self.ice = IceServers()
        #: The recordings disk's reserve, given back when it fills up (media.space).
        self.space = SpaceReserve(recordings_dir)

    def ice_servers(self, client: Client) -> list[dict[str, Any]]:
        """``client``'s STUN/TURN servers with fresh TURN credentials, for its ``matched``."""
        return self.ice.for_party(str(client.role), client.id)

    def relay_for(
        self,
        session: LiveSession,
        *,
        on_connected: Callable[[], object],
        on_failed: Callable[[str, str], object],
    ) -> SessionRelay:
        """A relay recording ``session``'s part into its folder (made as the call is matched).

        ``on_failed(by, reason)`` ends the call: a party's connection failed, or the
        recording did. The customer's wait in the queue ends here: it is observed in
        ``metrics``.
        """
        self.metrics.waited(session.service, time.monotonic() - session.queued_at)

        def on_segment(info: SegmentInfo) -> None:
            session.tasks.spawn(self._save_segment(session, info))

        recorder = SessionRecorder(
            session.layout.directory(self.recordings_dir),
            segment_s=self.segment_s,
            request_keyframe=lambda party: relay.request_keyframe(party),
            on_segment=on_segment,
            counts=self.frames,
            space=self.space,
            on_failure=lambda why: session.tasks.spawn(
                self._recording_failed(session, why, on_failed)
            ),
        )
        recorder.may_write = self.may_write
        relay = SessionRelay(
            session.id,
            recorder,
            on_connected=on_connected,
            on_failed=lambda party, state: on_failed(party, f"{party} connection {state}"),
            counts=self.frames,
            configuration=self.ice.relay_configuration(f"relay-{session.id}"),
        )
        return relay

    async def _recording_failed(
        self, session: LiveSession, why: str, on_failed: Callable[[str, str], object]
    ) -> None:
        """Tell both parties the call cannot be recorded, then end it (as failed)."""
        if not session.call.open:
            return
        logger.error("session %s: the recording failed, the call ends: %s", session.id, why)
        error = Error(code=RecordingFailed.code, message=str(RecordingFailed()), ref=None)
        for party in session.parties():
            await party.send(error)
        on_failed("server", RecordingFailed.reason)

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

    async def start_recording(self, session: LiveSession) -> bool:
        """Both parties are connected: start the recording; False if the call moved on."""
        if session.relay is None or session.agent is None:
            return False
        if not session.call.can(CallEvent.CONNECTED):
            return False
        session.call.recording_started(session.relay.start_recording())
        assert session.t0 is not None
        accepted = session.call.since.get(CallState.MATCHED)
        if accepted is not None:
            self.metrics.paired(session.service, time.monotonic() - accepted)
        logger.info("session %s: both parties connected, recording", session.id)
        watch_customer(session)  # live face and sound checks, told to the agent
        await self.db.start_session(
            session.id,
            agent_name=session.agent.name,
            started_at=datetime.fromtimestamp(session.t0, UTC),
            recording_dir=session.id,
        )
        return True

    async def answer(self, session: LiveSession, client: Client, sdp: str) -> str:
        """The relay's answer to ``client``'s offer."""
        relay = _relay(session, "offer")
        party = session.party_of(client)
        if relay.links[party].negotiated:
            raise OutOfOrder("offer", "already negotiated")
        if session.call.can(CallEvent.OFFER):
            session.call.fire(CallEvent.OFFER)
        else:
            raise OutOfOrder("offer", session.call.state)
        return await relay.answer(party, sdp)

    async def add_candidate(
        self,
        session: LiveSession,
        client: Client,
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        """A trickled ICE candidate from ``client``."""
        link = _relay(session, "ice_candidate").links[session.party_of(client)]
        if not link.negotiated:
            raise OutOfOrder("ice_candidate", "no offer yet")
        await link.add_ice_candidate(candidate, sdp_mid, sdp_mline_index)


def _relay(session: LiveSession, what: str) -> SessionRelay:
    if session.relay is None:
        raise OutOfOrder(what, session.call.state)
    return session.relay
