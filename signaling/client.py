"""The client end of the protocol, for aiortc peers: kiosks and the scripted agent.

A ``SignalingClient`` joins over the WebSocket, keeps every message the server sends,
and negotiates one peer connection with the server's media relay, sending its own
tracks and counting the frames it receives from the other party.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from typing import TypeVar

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from common import BackgroundTasks

from .errors import SignalingError
from .ice import client_configuration
from .protocol import Answer, Error, Join, Joined, Matched, Message, Offer, parse_message

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


class ServerRefused(SignalingError):
    """The server answered a message with an ``error``."""

    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class ConnectionClosed(SignalingError):
    """The server closed the connection (or it broke)."""


class SignalingClient:
    """One kiosk's or agent's connection to a dualrec server."""

    def __init__(
        self,
        url: str,
        role: str,
        token: str,
        *,
        video_codecs: Sequence[str] = (),
        local_address: str | None = None,
    ) -> None:
        self.url = url
        #: The address the socket is opened from (None: the system's choice). A load
        #: generator spreads its clients over loopback addresses: a server takes at most
        #: 20 sockets from one address.
        self.local_address = local_address
        #: Video codecs to offer (mime types, e.g. "video/H264"); all of aiortc's if empty.
        self.video_codecs = tuple(video_codecs)
        self.role = role
        self._token = token
        self.history: list[Message] = []
        self.received_frames: dict[str, int] = {"audio": 0, "video": 0}
        #: Media time (seconds) of the first and the latest frame received, per kind: with
        #: ``received_frames`` it says how much of what was sent in between was heard.
        self.received_span: dict[str, tuple[float, float]] = {}
        self.pc: RTCPeerConnection | None = None
        #: The ICE servers and policy of the last ``joined`` (none before it: never aiortc's
        #: public default).
        self.ice = RTCConfiguration(iceServers=[])
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        #: Messages that came while an answer was awaited, read before the inbox.
        self._deferred: collections.deque[Message] = collections.deque()
        self._tasks = BackgroundTasks("signalling client")
        self._closed = asyncio.Event()

    async def connect(self) -> Joined:
        """Open the WebSocket and join with the token."""
        connector = (
            None
            if self.local_address is None
            else aiohttp.TCPConnector(local_addr=(self.local_address, 0))
        )
        self._http = aiohttp.ClientSession(connector=connector)
        self._ws = await self._http.ws_connect(self.url, heartbeat=20.0)
        self._tasks.spawn(self._read())
        await self.send(Join(role=self.role, token=self._token))
        joined = await self.expect(Joined)
        self.ice = client_configuration(joined.ice_servers, joined.ice_transport_policy)
        return joined

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                message = parse_message(frame.data)
                if isinstance(message, Matched) and message.ice_servers:
                    # Fresh TURN credentials for the call's peer connection.
                    policy = self.ice.iceTransportPolicy.value
                    self.ice = client_configuration(message.ice_servers, policy)
                self.history.append(message)
                await self._inbox.put(message)
        finally:
            self._closed.set()
            await self._inbox.put(None)

    async def send(self, message: Message) -> None:
        """Send one message."""
        assert self._ws is not None
        await self._ws.send_str(message.to_json())

    async def send_raw(self, text: str) -> None:
        """Send text as it is (tests use it for malformed input)."""
        assert self._ws is not None
        await self._ws.send_str(text)

    async def expect(self, kind: type[M], timeout: float = 30.0) -> M:
        """Wait for the next message of ``kind``; an ``error`` raises ServerRefused."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self._get()
                if message is None:
                    raise ConnectionClosed(f'connection closed while waiting for "{kind.type}"')
                if isinstance(message, kind):
                    return message
                if isinstance(message, Error):
                    raise ServerRefused(message)

    async def next_message(self, timeout: float = 60.0) -> Message:
        """The next message from the server, whatever it is."""
        async with asyncio.timeout(timeout):
            message = await self._get()
        if message is None:
            raise ConnectionClosed("the server closed the connection")
        return message

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``, but raise at once if the server closes the connection."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)
        if self._closed.is_set():
            raise ConnectionClosed("the server closed the connection")

    async def negotiate(self, tracks: Sequence[MediaStreamTrack]) -> None:
        """Open the peer connection with the relay, sending ``tracks`` (again after a drop)."""
        if self.pc is not None:
            await self.pc.close()
        pc = self.pc = RTCPeerConnection(self.ice)
        for track in tracks:
            pc.addTrack(track)
        if self.video_codecs:
            capabilities = RTCRtpSender.getCapabilities("video")
            assert capabilities is not None
            wanted = [
                c
                for c in capabilities.codecs
                if c.mimeType in self.video_codecs or c.mimeType == "video/rtx"
            ]
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    transceiver.setCodecPreferences(wanted)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.spawn(self._consume(track))

        await pc.setLocalDescription(await pc.createOffer())
        await self.send(Offer(sdp=pc.localDescription.sdp))
        answer = await self._answer()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))

    async def _get(self) -> Message | None:
        return self._deferred.popleft() if self._deferred else await self._inbox.get()

    async def _answer(self) -> Answer:
        """The relay's answer; other messages meanwhile are kept for the caller's next read."""
        skipped: list[Message] = []
        try:
            async with asyncio.timeout(30.0):
                while True:
                    message = await self._inbox.get()
                    if message is None:
                        raise ConnectionClosed('connection closed while waiting for "answer"')
                    if isinstance(message, Answer):
                        return message
                    if isinstance(message, Error) and message.ref == "offer":
                        raise ServerRefused(message)
                    skipped.append(message)
        finally:
            self._deferred.extend(skipped)

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.received_frames[track.kind] += 1
                if frame.pts is not None and frame.time_base is not None:
                    at = float(frame.pts * frame.time_base)
                    first, _ = self.received_span.get(track.kind, (at, at))
                    self.received_span[track.kind] = (first, at)

    async def close(self) -> None:
        """Close the peer connection and the socket."""
        if self.pc is not None:
            await self.pc.close()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        await self._tasks.cancel()
