"""Benchmark peers that count received frames without decoding them.

Decoding 32 received streams would load the machine under test, so each client
receiver gets a ``media.tap.ReceiverTap`` (installed right after ``addTrack``, before
the connection starts) whose frame callback only counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media.tap import EncodedFrame, ReceiverTap
from signaling import Answer, Hangup, Message, Offer, SignalingClient


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


class CountingClient(SignalingClient):
    """A dualrec client that taps its receivers, stamps its hang-up and can wait at a gate."""

    def __init__(self, url: str, role: str, token: str, gate: StartGate | None = None) -> None:
        super().__init__(url, role, token)
        self.gate = gate
        self.arrived = False
        self.hangup_at: float | None = None
        self.taps: list[ReceiverTap] = []

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
        await super().send(message)

    async def pause(self, seconds: float) -> None:
        """The scripted agent's first pause (media flowing) waits at the gate first."""
        if self.gate is not None and not self.arrived:
            self.arrived = True
            await self.gate.arrive()
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
