"""Benchmark peers that count received frames without decoding them.

Decoding 32 received streams would load the machine under test, so each client
receiver gets a ``media.tap.ReceiverTap`` (installed right after ``addTrack``, before
the connection starts) whose frame callback only counts. ``CountingClient`` also notes
when each message arrived, so pairing (accept → matched) is timed from the clients' side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from agent_console import ScriptedAgent
from media.tap import EncodedFrame, ReceiverTap
from signaling import (
    Accept,
    Answer,
    Hangup,
    Matched,
    Message,
    Offer,
    ServerRefused,
    SignalingClient,
)

from .loop_tracks import LOOP_S


def count_received(pc: RTCPeerConnection, counts: dict[str, int]) -> list[ReceiverTap]:
    """Tap every receiver of ``pc``: received frames are counted into ``counts``, not decoded."""
    taps = []
    for transceiver in pc.getTransceivers():
        kind = transceiver.kind

        def on_frame(frame: EncodedFrame, kind: str = kind) -> None:
            """Count the frame."""
            counts[kind] += 1

        def on_sender_report(ntp: float, rtp: int) -> None:
            """Sender reports are not needed here."""

        taps.append(ReceiverTap(transceiver.receiver, kind, on_frame, on_sender_report))
    return taps


class StartGate:
    """Holds every call until all of them have media, so they run concurrently."""

    def __init__(self, parties: int, timeout: float) -> None:
        self.expected = parties
        self.arrived = 0
        self.timeout = timeout
        self.released_at: float | None = None
        self.timed_out = False
        self._event = asyncio.Event()
        self._deadline = time.monotonic() + timeout

    def _check(self) -> None:
        if self.arrived >= self.expected and not self._event.is_set():
            self.released_at = time.time()
            self._event.set()

    def leave(self) -> None:
        """A party failed before arriving: stop waiting for it."""
        self.expected -= 1
        self._check()

    async def arrive(self) -> None:
        """Arrive and wait for the others (or the timeout)."""
        self.arrived += 1
        self._check()
        await self.wait()

    async def wait(self) -> None:
        """Wait until released; a timeout releases everybody."""
        try:
            await asyncio.wait_for(self._event.wait(), self._deadline - time.monotonic())
        except TimeoutError:
            self.timed_out = True
            if self.released_at is None:
                self.released_at = time.time()
            self._event.set()


#: After a whole loop, how long a keyframe may take to reach the server.
KEYFRAME_MARGIN_S = 0.3


class StampedHistory(list[Message]):
    """A client's history that notes when each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        #: Unix time of each message's arrival, in the order of the list.
        self.times: list[float] = []

    def append(self, message: Message) -> None:
        """Keep ``message`` with its arrival time."""
        self.times.append(time.time())
        super().append(message)

    def first_at(self, kind: type[Message]) -> float | None:
        """When the first message of ``kind`` arrived."""
        return next((t for m, t in zip(self, self.times, strict=True) if isinstance(m, kind)), None)


class CountingClient(SignalingClient):
    """A dualrec client that taps its receivers, stamps its accept, its matched and its
    hang-up, and can wait at a gate."""

    def __init__(
        self,
        url: str,
        role: str,
        token: str,
        gate: StartGate | None = None,
        *,
        local_address: str | None = None,
    ) -> None:
        super().__init__(url, role, token, local_address=local_address)
        self.history: StampedHistory = StampedHistory()
        self.gate = gate
        self.arrived = False
        self.hangup_at: float | None = None
        #: When the last ``accept`` before ``matched`` left (an agent may be refused first).
        self.accepted_at: float | None = None
        self.taps: list[ReceiverTap] = []

    @property
    def matched_at(self) -> float | None:
        """When the first ``matched`` arrived."""
        return self.history.first_at(Matched)

    async def negotiate(self, tracks: Sequence[MediaStreamTrack]) -> None:
        """Open the peer connection as the base client does, with counting taps."""
        pc = self.pc = RTCPeerConnection()
        for track in tracks:
            pc.addTrack(track)
        self.taps = count_received(pc, self.received_frames)
        await pc.setLocalDescription(await pc.createOffer())
        await self.send(Offer(sdp=pc.localDescription.sdp))
        answer = await self.expect(Answer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))

    async def send(self, message: Message) -> None:
        """Send, noting when the hang-up left."""
        if isinstance(message, Hangup):
            self.hangup_at = time.time()
        elif isinstance(message, Accept) and self.matched_at is None:
            self.accepted_at = time.time()
        await super().send(message)

    async def pause(self, seconds: float) -> None:
        """The scripted agent's first pause (media flowing) waits at the gate first, and
        lasts until a keyframe has been sent."""
        if self.gate is not None and not self.arrived:
            self.arrived = True
            media_at = time.time()
            await self.gate.arrive()
            # The first step takes a still of the customer, which needs a keyframe, and the
            # pre-encoded video has one only at each loop start: with short calls (10 s) the
            # first step would otherwise come before the last call's first keyframe.
            seconds = max(seconds, media_at + LOOP_S + KEYFRAME_MARGIN_S - time.time())
        await super().pause(seconds)


async def plain_party(
    http: aiohttp.ClientSession,
    base_url: str,
    session: str,
    party: str,
    tracks: Sequence[MediaStreamTrack],
    counts: dict[str, int],
) -> RTCPeerConnection:
    """One party's peer connection with the plain server (POST /offer), receivers tapped."""
    pc = RTCPeerConnection()
    for track in tracks:
        pc.addTrack(track)
    count_received(pc, counts)
    await pc.setLocalDescription(await pc.createOffer())
    body = {"session": session, "party": party, "sdp": pc.localDescription.sdp}
    async with http.post(f"{base_url}/offer", json=body) as response:
        response.raise_for_status()
        answer = await response.json()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return pc


async def wait_for_media(counts: Sequence[dict[str, int]], timeout: float) -> None:
    """Wait until every count of every dict is above zero."""
    async with asyncio.timeout(timeout):
        while min(min(c.values()) for c in counts) == 0:
            await asyncio.sleep(0.05)


class BranchAgent(ScriptedAgent):
    """A scripted agent who takes the customer of one branch, whatever the queue's order.

    The benchmark of several nodes gives each call's kiosk a branch of its own, so each
    agent takes its own call's kiosk and where both parties are is known, while every
    call is still paired at the same time as the others.
    """

    def __init__(self, *args: Any, branch: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.branch = branch

    async def _take_next_customer(self) -> Matched:
        """Accept the branch's offer once the queue shows it."""
        while True:
            await self._queue_update()
            offer = next((o for o in self.queue.offers if o.get("branch") == self.branch), None)
            if offer is None:
                continue
            await self.client.send(Accept(offer_id=offer["offer_id"]))
            try:
                return await self.client.expect(Matched)
            except ServerRefused as exc:
                if exc.error.code != "out_of_order":
                    raise
