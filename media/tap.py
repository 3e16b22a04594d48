"""Taking the encoded frames of a received aiortc track, before any decoding.

aiortc has no public API for the encoded frames of a received track (aiortc issue
#984). Its receiver reassembles complete frames in a jitter buffer (RTX unwrapped,
NACKs sent, the VP8 payload descriptor stripped) and hands them to a decoder thread
through a private queue. ``ReceiverTap`` swaps that queue for one that passes the
frames to us instead, so nothing is decoded, and listens to the RTCP sender reports
that put the stream on the wall clock. Audio is taken packet by packet as it arrives
(an Opus packet is a whole frame): aiortc's audio buffer drops received frames
around every lost packet. Packets that overtook one another on the way are put back
in order first (media.reorder), so jitter costs no frame and a lost packet costs only
its own. This depends on aiortc's internals: the
version is pinned exactly in pyproject.toml and tests/media/test_relay.py exercises
the hook end to end.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket

from .counts import DropReason, FrameCounts
from .errors import MediaError
from .reorder import AudioReorder

logger = logging.getLogger(__name__)

#: Clock rates of the codecs the relay negotiates (VP8 video, Opus audio).
CLOCK_RATES = {"video": 90000, "audio": 48000}

#: Do not ask a sender for keyframes more often than this.
MIN_KEYFRAME_INTERVAL_S = 0.5
#: Packet arrival times kept for frames not yet handed over (by RTP timestamp).
MAX_ARRIVALS = 256
#: While audio packets wait for a missing one, look at them this often (seconds) ...
REORDER_CHECK_S = 0.050
#: ... and give it up after media.reorder's wait plus this much, if no packet came to.
REORDER_TIMER_GRACE_S = 0.250


@dataclass(slots=True)
class EncodedFrame:
    """One complete encoded frame as received, with its RTP timestamp."""

    kind: str
    data: bytes
    #: RTP timestamp counted from the track's first frame (unwrapped).
    timestamp: int
    #: The RTP timestamp as sent, modulo 2**32 (for sender-report mapping).
    rtp_timestamp: int
    #: Server wall-clock time (``time.time()``) when the frame's last packet arrived.
    arrival: float
    keyframe: bool


def is_vp8_keyframe(data: bytes) -> bool:
    """Whether a VP8 frame is a keyframe (RFC 6386, section 9.1: P bit clear)."""
    return bool(data) and not data[0] & 0x01


def vp8_frame_ok(data: bytes) -> bool:
    """Whether a VP8 frame's header is whole (RFC 6386, section 9.1).

    aiortc's jitter buffer can hand on a frame whose first packets were lost when it
    makes room after a long loss; such a frame fails these checks.
    """
    if len(data) < 3:
        return False
    tag = int.from_bytes(data[:3], "little")
    version, first_partition = (tag >> 1) & 0x07, tag >> 5
    if version > 3 or first_partition > len(data) - 3:
        return False
    return not is_vp8_keyframe(data) or (len(data) >= 10 and data[3:6] == b"\x9d\x01\x2a")


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """The width and height carried in a VP8 keyframe header, if any."""
    if len(data) < 10 or not is_vp8_keyframe(data) or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


def ntp_to_seconds(ntp: int) -> float:
    """A 64-bit NTP timestamp as Unix seconds."""
    return (ntp >> 32) - 2208988800 + (ntp & 0xFFFFFFFF) / (1 << 32)


class _TapQueue(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue: frames go to a callback."""

    def __init__(self, on_item: Callable[[Any, Any], None]) -> None:
        super().__init__()
        self._on_item = on_item

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            # The stop sentinel still reaches the (idle) decoder thread.
            super().put(None, block, timeout)
        else:
            codec, frame = item
            self._on_item(codec, frame)


class ReceiverTap:
    """Takes the encoded frames and sender reports of one ``RTCRtpReceiver``."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        kind: str,
        on_frame: Callable[[EncodedFrame], None],
        on_sender_report: Callable[[float, int], None],
        *,
        decode: bool = False,
        counts: FrameCounts | None = None,
    ) -> None:
        if kind not in CLOCK_RATES:
            raise MediaError(f'cannot tap a track of kind "{kind}"')
        self.kind = kind
        self._receiver = receiver
        self._on_frame = on_frame
        self._on_sender_report = on_sender_report
        self._first_rtp: int | None = None
        #: Audio: the first and the latest RTP timestamp handed over, and how far apart.
        self._audio_origin: int | None = None
        self._audio_last = 0
        self._audio_elapsed = 0
        #: Audio packets back in the order they were sent, and the timer that gives up
        #: a missing one when no later packet comes to do it.
        self._reorder = AudioReorder()
        self._reorder_timer: asyncio.TimerHandle | None = None
        #: RTP timestamp -> when its latest packet arrived (retransmissions included).
        self._arrivals: dict[int, float] = {}
        self._last_keyframe_request = 0.0
        #: A keyframe asked for before the first packet came (the sender is not known yet).
        self._keyframe_wanted = False
        self.frames = 0
        self.keyframe_requests = 0
        #: Damaged frames (and those depending on them) left out.
        self.damaged = 0
        #: The server's frame totals (damaged frames are counted there as dropped).
        self.counts = FrameCounts() if counts is None else counts
        self._broken = False
        self._requests: set[asyncio.Future[None]] = set()
        #: For a party without VP8: what re-encodes its decoded video (media.transcode).
        self.transcoder: Any = None
        #: With ``decode`` aiortc decodes as usual (media.transcode takes the pictures);
        #: only the sender reports are taken here.
        self._install(decode)

    def _install(self, decode: bool) -> None:
        receiver = self._receiver
        if getattr(receiver, "_RTCRtpReceiver__decoder_thread", "missing") is not None:
            raise MediaError(
                "the receiver is already running or aiortc's internals changed; "
                "taps must be installed before the connection starts"
            )
        if not decode:
            receiver._RTCRtpReceiver__decoder_queue = _TapQueue(self._handle_frame)  # type: ignore[attr-defined]
            self._install_arrivals()
        handle_rtcp = receiver._handle_rtcp_packet

        async def _handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpSrPacket):
                info = packet.sender_info
                # A report sent before the sender's first packet (aiortc sends those,
                # with NTP time 0) maps nothing.
                if info.packet_count and info.ntp_timestamp:
                    seconds = ntp_to_seconds(info.ntp_timestamp)
                    self._on_sender_report(seconds, info.rtp_timestamp)
            await handle_rtcp(packet)

        receiver._handle_rtcp_packet = _handle_rtcp_packet  # type: ignore[method-assign]

    def _install_arrivals(self) -> None:
        # aiortc's jitter buffer hands a frame over only when later packets have come
        # (a video frame with the next frame's first packet, an audio frame four frames
        # on): the time a frame was handed over says more about the buffer than about
        # the network. The arrival of its packets is what the timeline needs.
        #
        # Audio skips that buffer: an Opus packet is a whole frame, and aiortc's audio
        # buffer throws away the frames before a lost packet (four or more, received
        # or not), so 5 % loss on the network cost a fifth of the recorded sound.
        receiver = self._receiver
        handle_rtp = receiver._handle_rtp_packet
        arrivals = self._arrivals
        codecs: dict[int, Any] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]

        async def _handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            now = time.time()
            if self.kind == "audio":
                codec = codecs.get(packet.payload_type)
                if receiver._enabled and codec is not None and codec.mimeType == "audio/opus":
                    self._handle_audio(packet, now)
            else:
                arrivals[packet.timestamp] = now  # a retransmission has the same
                if len(arrivals) > MAX_ARRIVALS:
                    del arrivals[next(iter(arrivals))]
            await handle_rtp(packet, arrival_time_ms)
            if self._keyframe_wanted:
                self.request_keyframe(force=True)

        receiver._handle_rtp_packet = _handle_rtp_packet  # type: ignore[method-assign]

    def rtp_timestamp(self, timestamp: int) -> int:
        """The RTP timestamp as sent, from one counted from the track's first frame."""
        mapper = self._receiver._RTCRtpReceiver__timestamp_mapper  # type: ignore[attr-defined]
        return (int(mapper._origin or 0) + timestamp) & 0xFFFFFFFF

    def _handle_audio(self, packet: RtpPacket, arrival: float) -> None:
        """Take one Opus packet as it arrives; it is handed over in sequence order."""
        late = self._reorder.late
        for item in self._reorder.add(packet, arrival):
            self._hand_over_audio(item.packet, item.arrival)
        if self._reorder.late > late:
            self.counts.drop("audio", DropReason.TOO_LATE)
        self._watch_reorder()

    def _watch_reorder(self) -> None:
        """While packets wait for a missing one, look again later (no later one may come)."""
        if self._reorder.waiting and self._reorder_timer is None:
            loop = asyncio.get_running_loop()
            self._reorder_timer = loop.call_later(REORDER_CHECK_S, self._reorder_due)

    def _reorder_due(self) -> None:
        # Packets arriving decide by their own arrival times, in the order they came off
        # the socket, so a busy loop does not fool them. This timer runs only for a
        # stream that stopped; after a busy spell it can run before the packets that
        # came meanwhile are read, so it gives up a missing one only after a grace.
        self._reorder_timer = None
        for item in self._reorder.due(time.time() - REORDER_TIMER_GRACE_S):
            self._hand_over_audio(item.packet, item.arrival)
        self._watch_reorder()

    def flush(self) -> None:
        """Hand over the audio packets still waiting for a missing one (at hang-up)."""
        if self._reorder_timer is not None:
            self._reorder_timer.cancel()
            self._reorder_timer = None
        for item in self._reorder.flush():
            self._hand_over_audio(item.packet, item.arrival)

    def _hand_over_audio(self, packet: RtpPacket, arrival: float) -> None:
        """Hand over one Opus packet; repeated or older ones are dropped."""
        if not packet.payload:
            return  # padding only (aiortc's own receiver skips these too)
        if self._audio_origin is None:
            self._audio_origin = self._audio_last = packet.timestamp
        else:
            step = (packet.timestamp - self._audio_last) & 0xFFFFFFFF
            if step == 0 or step >= 1 << 31:
                return  # a duplicate, or older than one already handed over
            self._audio_last = packet.timestamp
            self._audio_elapsed += step
        self._deliver(
            EncodedFrame(
                "audio", packet.payload, self._audio_elapsed, packet.timestamp, arrival, True
            )
        )

    def _handle_frame(self, codec: Any, frame: Any) -> None:
        # Called on the event loop by the receiver, with the timestamp already
        # counted from the first frame; rebuild the RTP timestamp from that origin.
        if self.kind == "audio":
            return  # taken as the packets arrive (_handle_audio)
        timestamp = int(frame.timestamp)
        rtp_timestamp = self.rtp_timestamp(timestamp)
        data = bytes(frame.data)
        keyframe = self.kind == "audio" or is_vp8_keyframe(data)
        if self.kind == "video" and (self._broken or not vp8_frame_ok(data)):
            # A damaged frame, and every frame after it until the next keyframe, would
            # decode to garbage: none of them is forwarded or recorded.
            self._broken = not (keyframe and vp8_frame_ok(data))
            if self._broken:
                self.damaged += 1
                self.counts.drop(self.kind, DropReason.DAMAGED)
                self.request_keyframe()
                return
        arrival = self._arrivals.pop(rtp_timestamp, None) or time.time()
        self._deliver(EncodedFrame(self.kind, data, timestamp, rtp_timestamp, arrival, keyframe))

    def _deliver(self, frame: EncodedFrame) -> None:
        self.frames += 1
        try:
            self._on_frame(frame)
        except Exception:
            # A fault downstream must not stop the receiver (and the call).
            logger.exception("%s tap: frame handler failed", self.kind)

    def request_keyframe(self, *, force: bool = False) -> None:
        """Ask the sender for a keyframe (RTCP PLI), at most every half second."""
        if self.kind != "video" or self.transcoder is not None:
            if self.transcoder is not None:
                self.transcoder.request_keyframe()
            return
        now = time.monotonic()
        if not force and now - self._last_keyframe_request < MIN_KEYFRAME_INTERVAL_S:
            return
        sources = self._receiver.getSynchronizationSources()
        # Before the first packet (recording starts as the call connects) the request
        # is sent with the first packet: the picture is recorded from its first second.
        self._keyframe_wanted = not sources
        if not sources:
            return
        self._last_keyframe_request = now
        self.keyframe_requests += 1
        task = asyncio.ensure_future(self._receiver._send_rtcp_pli(sources[0].source))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)
