"""The server's media relay: one peer connection per party, media forwarded as is.

Each party (kiosk, agent) negotiates one peer connection with the relay. The relay
takes the encoded frames each party sends (media.tap), forwards them to the other
party without decoding or re-encoding, passes the other party's keyframe requests
back to the sender, and hands the frames, placed on one timeline, to the recorder.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcpeerconnection import filter_preferred_codecs
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp
from numpy.typing import NDArray

from common import Party

from .counts import DropReason, FrameCounts
from .errors import MediaError, NegotiationError
from .forward import ForwardTrack, QueuedTrack
from .live_watch import LiveWatch
from .recorder import SessionRecorder
from .speech import FRAME as ANNOUNCEMENT_FRAME
from .speech import encode_opus
from .still import PictureGroup, Still, decode_still
from .tap import CLOCK_RATES, EncodedFrame, ReceiverTap
from .timeline import PartyClock, PlacedFrame, TrackClock
from .transcode import DecodingForwardTrack, Vp8Reencoder

logger = logging.getLogger(__name__)

#: The codecs the relay negotiates with every party, so it can forward without transcoding.
RELAY_CODECS = {"video": ("video/VP8", "video/rtx"), "audio": ("audio/opus",)}
#: ICE candidates accepted on one connection: a real browser trickles a handful.
MAX_ICE_CANDIDATES = 64


def other_party(party: str) -> str:
    """The party at the other end of the call."""
    return Party.AGENT if party == Party.KIOSK else Party.KIOSK


def _choose_codecs(transceiver: RTCRtpTransceiver) -> bool:
    """Keep only the relay's codecs in the answer; True when the video must be transcoded.

    aiortc fixes a transceiver's codecs when the offer is applied (setCodecPreferences
    afterwards changes nothing), so the negotiated list is narrowed here.
    """
    kind = transceiver.kind
    capabilities = RTCRtpSender.getCapabilities(kind)
    assert capabilities is not None
    preferred = [c for c in capabilities.codecs if c.mimeType in RELAY_CODECS[kind]]
    offered = transceiver._codecs
    chosen = filter_preferred_codecs(offered, preferred)
    if chosen:
        transceiver._codecs = chosen
        return False
    if kind == "video" and offered:
        return True  # keep what the party can do; the relay transcodes for it
    raise NegotiationError(f"the offer has no {kind} codec the relay can use")


class PartyLink:
    """One party's peer connection with the relay."""

    def __init__(self, party: str, relay: SessionRelay) -> None:
        self.party = party
        self.counts = relay.counts
        self.pc = RTCPeerConnection(relay.configuration)
        self.party_clock = PartyClock()
        self.clocks = {kind: TrackClock(kind, self.party_clock) for kind in CLOCK_RATES}
        self.taps: dict[str, ReceiverTap] = {}
        self._request_other_keyframe = lambda: relay.request_keyframe(other_party(party))
        self.outgoing: dict[str, QueuedTrack] = {
            kind: ForwardTrack(kind, self._request_other_keyframe, self.counts)
            for kind in CLOCK_RATES
        }
        self._tasks: set[asyncio.Future[None]] = set()
        self.negotiated = False
        self.pictures = PictureGroup()
        #: ICE candidates applied so far (capped: each one costs connectivity checks).
        self.candidates = 0

    async def answer(self, sdp: str, on_frame: Callable[[EncodedFrame], None]) -> str:
        """Apply the party's offer and return the relay's answer."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise NegotiationError(f"the offer cannot be applied: {exc}") from exc
        kinds = sorted(t.kind for t in self.pc.getTransceivers())
        if kinds != ["audio", "video"]:
            raise NegotiationError(
                "the offer must have exactly one audio and one video section, "
                f"not {', '.join(kinds) or 'none'}"
            )
        for transceiver in self.pc.getTransceivers():
            kind = transceiver.kind
            transcode = _choose_codecs(transceiver)
            clock = self.clocks[kind]
            tap = self.taps[kind] = ReceiverTap(
                transceiver.receiver,
                kind,
                on_frame,
                clock.on_sender_report,
                decode=transcode,
                counts=self.counts,
            )
            if transcode:
                # No VP8 on this party's side: its video is decoded and encoded to VP8
                # once, and the VP8 it receives is decoded for its own encoder.
                reencoder = Vp8Reencoder(tap, on_frame)
                self._tasks.add(asyncio.ensure_future(reencoder.run(transceiver.receiver.track)))
                self.outgoing[kind] = DecodingForwardTrack(
                    self._request_other_keyframe, self.counts
                )
                logger.info("%s link: no VP8 offered, transcoding its video", self.party)
            outgoing = self.outgoing[kind]
            transceiver.sender.replaceTrack(outgoing)
            if not transcode:
                # A keyframe request from this party is passed to the party it watches.
                transceiver.sender._send_keyframe = outgoing.on_keyframe_request  # type: ignore[method-assign]
            transceiver.direction = "sendrecv"
        try:
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except (ValueError, KeyError) as exc:
            raise NegotiationError(f"no answer to the offer: {exc}") from exc
        self.negotiated = True
        return str(self.pc.localDescription.sdp)

    async def add_ice_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """Apply a trickled ICE candidate from the party (at most ``MAX_ICE_CANDIDATES``)."""
        if not candidate:
            return
        if self.candidates >= MAX_ICE_CANDIDATES:
            raise NegotiationError(
                f"the {self.party} connection already has {MAX_ICE_CANDIDATES} ICE candidates, "
                "the most accepted"
            )
        try:
            parsed: RTCIceCandidate = candidate_from_sdp(candidate.removeprefix("candidate:"))
        except (ValueError, IndexError, AssertionError) as exc:
            # aiortc checks the field count with an assert.
            raise NegotiationError(
                "the ICE candidate cannot be parsed: "
                f"{exc or 'it needs at least 8 space-separated fields'}"
            ) from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        self.candidates += 1
        try:
            await self.pc.addIceCandidate(parsed)
        except ValueError as exc:  # no sdpMid nor sdpMLineIndex, or after end-of-candidates
            raise NegotiationError(f"the ICE candidate cannot be applied: {exc}") from exc

    async def close(self) -> None:
        """Close the peer connection."""
        for track in self.outgoing.values():
            track.stop()
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class SessionRelay:
    """Forwards each party's media to the other and feeds the session's recorder."""

    def __init__(
        self,
        session_id: str,
        recorder: SessionRecorder,
        *,
        on_connected: Callable[[], Any],
        on_failed: Callable[[str, str], Any],
        counts: FrameCounts | None = None,
        configuration: RTCConfiguration | None = None,
    ) -> None:
        self.session_id = session_id
        self.recorder = recorder
        #: The ICE servers of every link: the configured ones, or none at all. aiortc,
        #: given no configuration, would ask a public STUN server (stun.l.google.com).
        self.configuration = configuration or RTCConfiguration(iceServers=[])
        #: The server's frame totals, shared by all its relays (see media.counts).
        self.counts = FrameCounts() if counts is None else counts
        self._on_connected = on_connected
        self._on_failed = on_failed
        self.links: dict[str, PartyLink] = {party: PartyLink(party, self) for party in Party}
        self.connected: set[str] = set()
        self.closed = False
        #: Parties whose microphone an announcement replaces just now.
        self._announcing: set[str] = set()
        #: The live checks of the customer's media, once the recording runs (media.live_watch).
        self.watch: LiveWatch | None = None
        for party, link in self.links.items():
            link.pc.on("connectionstatechange", self._state_handler(party, link))

    def _state_handler(self, party: str, link: PartyLink) -> Callable[[], None]:
        def handler() -> None:
            state = link.pc.connectionState
            logger.info("session %s: %s link -> %s", self.session_id, party, state)
            if state == "connected" and party not in self.connected:
                self.connected.add(party)
                if self.connected == set(Party):
                    self._on_connected()
            elif state in ("failed", "closed") and not self.closed:
                self._on_failed(party, state)

        return handler

    async def answer(self, party: str, sdp: str) -> str:
        """Negotiate ``party``'s peer connection from its offer."""
        link = self.links[party]

        def on_frame(frame: EncodedFrame) -> None:
            self._on_frame(link, frame)

        return await link.answer(sdp, on_frame)

    def _on_frame(self, link: PartyLink, frame: EncodedFrame) -> None:
        self.counts.received[frame.kind] += 1
        if self.watch is not None and link.party == Party.KIOSK:
            self.watch.observe(frame)
        if frame.kind == "video" and not link.pictures.add(frame):
            self.request_keyframe(link.party)
        if frame.kind == "audio" and link.party in self._announcing:
            link.clocks["audio"].observe(frame)  # keeps the clock; the announcement is heard
            self.counts.drop("audio", DropReason.ANNOUNCEMENT)
            return
        self.links[other_party(link.party)].outgoing[frame.kind].push(frame)
        for placed in link.clocks[frame.kind].place(frame):
            self.recorder.add(link.party, placed)

    def request_keyframe(self, party: str) -> None:
        """Ask ``party``'s camera for a keyframe."""
        tap = self.links[party].taps.get("video")
        if tap is not None:
            tap.request_keyframe()

    async def capture_still(self, party: str) -> Still:
        """A JPEG of ``party``'s newest picture (decoded on a worker thread)."""
        frames = self.links[party].pictures.snapshot()
        return await asyncio.to_thread(decode_still, frames)

    async def play_announcement(
        self, samples: NDArray[np.int16], sample_rate: int, *, as_party: str = "agent"
    ) -> float:
        """Play speech to the other party in place of ``as_party``'s microphone.

        It is recorded on ``as_party``'s audio track at the time it is heard. Returns
        the duration in seconds once it has been played.
        """
        if as_party in self._announcing:
            raise MediaError(f"an announcement is already playing for the {as_party}")
        packets = await asyncio.to_thread(encode_opus, samples, sample_rate)
        track = self.links[other_party(as_party)].outgoing["audio"]
        # The microphone's frames still held are recorded before the announcement.
        for placed in self.links[as_party].clocks["audio"].drain():
            self.recorder.add(as_party, placed)
        self._announcing.add(as_party)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            timestamp = track.last_timestamp
            for i, data in enumerate(packets):
                timestamp += ANNOUNCEMENT_FRAME
                frame = EncodedFrame("audio", data, timestamp, 0, time.time(), True)
                track.push(frame)
                self.recorder.add(as_party, PlacedFrame(frame, frame.arrival))
                await asyncio.sleep(max(0.0, began + (i + 1) * 0.020 - loop.time()))
        finally:
            self._announcing.discard(as_party)
        return len(packets) * 0.020

    def start_recording(self) -> float:
        """Start the recording timeline now; returns its wall-clock origin."""
        t0 = time.time()
        self.recorder.start(t0, self.session_id)
        for party in Party:
            self.request_keyframe(party)
        return t0

    def stats(self) -> dict[str, Any]:
        """Forwarding and timing figures per party."""
        return {
            party: {
                "received": {kind: tap.frames for kind, tap in link.taps.items()},
                "forwarded": {k: t.forwarded for k, t in link.outgoing.items()},
                "forward_dropped": {k: t.dropped for k, t in link.outgoing.items()},
                "keyframe_requests": sum(t.keyframe_requests for t in link.taps.values()),
                "sender_reports": {k: c.sender_reports for k, c in link.clocks.items()},
            }
            for party, link in self.links.items()
        }

    async def close(self) -> None:
        """Stop recording (everything received is written) and close both links."""
        if self.closed:
            return
        self.closed = True
        if self.watch is not None:
            await self.watch.stop()
        for party, link in self.links.items():
            for tap in link.taps.values():
                tap.flush()  # audio waiting for a packet that will not come now
            for clock in link.clocks.values():
                for placed in clock.drain():
                    self.recorder.add(party, placed)
        await self.recorder.stop()
        await asyncio.gather(*(link.close() for link in self.links.values()))
