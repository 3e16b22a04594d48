"""One timeline: late cameras, cross-party alignment and packet loss, measured on the files.

All four tracks of both parties share one PulseClock, so every flash and beep of both
parties happens at the same wall-clock instant; in a correct recording they line up.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import struct
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket, is_rtcp

from agent_console import ScriptedAgent
from kiosk_client import Kiosk
from media.analysis import av_offsets, find_beeps, find_flashes, read_audio, read_video
from media.verify import verify_recording
from synthetic import (
    AGENT_LOOK,
    BEEP_S,
    KIOSK_LOOK,
    PartyLook,
    PulseClock,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
)
from tests.support import RunningServer

#: A/V offsets are measured: alone, not beside other tests (./dev test).
pytestmark = pytest.mark.serial

#: The documented target for A/V and cross-party alignment in the recording.
MAX_OFFSET_S = 0.040


class LateStart(MediaStreamTrack):
    """A track whose device starts ``delay_s`` after the call does (a slow camera)."""

    def __init__(self, track: MediaStreamTrack, delay_s: float) -> None:
        super().__init__()
        self.kind = track.kind
        self._track = track
        self._delay_s = delay_s

    async def recv(self) -> Any:
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
            self._delay_s = 0.0
        return await self._track.recv()

    def stop(self) -> None:
        self._track.stop()
        super().stop()


def tracks(look: PartyLook, clock: PulseClock, video_delay_s: float = 0.0) -> list[Any]:
    video = SyntheticVideoTrack(label=look.label, colour=look.colour, pulse=clock)
    return [
        SyntheticAudioTrack(tone_hz=look.tone_hz, pulse=clock),
        LateStart(video, video_delay_s) if video_delay_s else video,
    ]


async def call(
    server: RunningServer,
    *,
    clock: PulseClock | None = None,
    kiosk_tracks: list[Any] | None = None,
    kiosk_video_delay_s: float = 0.0,
    agent_video_delay_s: float = 0.0,
    on_kiosk_connected: Callable[[Kiosk], None] | None = None,
    step_s: float = 1.6,
) -> Path:
    """A card-opening call with one shared pulse clock; returns the recording folder."""
    clock = clock or PulseClock(2.0)
    kiosk_token = await server.db.add_credential("kiosk", "K1", "BJ-001")
    agent_token = await server.db.add_credential("agent", "A1")
    if kiosk_tracks is None:
        kiosk_tracks = tracks(KIOSK_LOOK, clock, kiosk_video_delay_s)
    kiosk = Kiosk(server.ws_url, kiosk_token, kiosk_tracks)
    agent = ScriptedAgent(
        server.ws_url, agent_token, tracks(AGENT_LOOK, clock, agent_video_delay_s), step_s=step_s
    )
    runs = asyncio.gather(kiosk.run(), agent.run())
    if on_kiosk_connected is not None:
        while kiosk.client.pc is None:
            await asyncio.sleep(0.01)
        on_kiosk_connected(kiosk)
    _, result = await runs
    assert result.session_id is not None
    return server.settings.recordings_dir / result.session_id


class LossyLink:
    """The kiosk's network losing a share of its packets, and which pulses that hit.

    Packets are dropped at the lowest transport seam, the kiosk's DTLS transport, before
    encryption, so the test reads each RTP header. A pulse whose onset packets never arrived
    (a packet of the flash frame, retransmissions included; an audio packet of the beep:
    Opus is not retransmitted) is found late, twice or not at all by the detector, through
    no fault of the recorder. All other pulses must be in place.
    """

    def __init__(
        self, clock: PulseClock, audio: SyntheticAudioTrack, video: SyntheticVideoTrack
    ) -> None:
        self.clock, self.audio, self.video = clock, audio, video
        self.rng = random.Random(5)
        self.sent = self.dropped = 0
        self._kind_of: dict[int, str] = {}  # SSRC -> "audio" / "video"
        self._resent_kind_of: dict[int, str] = {}  # retransmission (RTX) SSRC -> kind
        self._first: dict[str, int] = {}  # kind -> RTP timestamp of its first packet
        # kind -> {sequence number: RTP timestamp from the first packet} never delivered
        self._missing: dict[str, dict[int, int]] = {"audio": {}, "video": {}}

    def attach(self, kiosk: Kiosk, rate: float = 0.05) -> None:
        """Drop ``rate`` of all packets the kiosk sends (RTP, retransmissions and RTCP)."""
        assert kiosk.client.pc is not None
        senders = kiosk.client.pc.getSenders()
        self._kind_of = {sender._ssrc: sender.kind for sender in senders}
        self._resent_kind_of = {sender._rtx_ssrc: sender.kind for sender in senders}
        for transport in {sender.transport for sender in senders}:
            # Before the first packet, so that every packet's fate is known.
            assert transport.state in ("new", "connecting"), transport.state
            send = transport._send_rtp

            async def send_rtp(data: bytes, send: Any = send) -> None:
                self.sent += 1
                lost = self.rng.random() < rate
                self._note(data, lost)
                if lost:
                    self.dropped += 1
                    return
                await send(data)

            transport._send_rtp = send_rtp  # type: ignore[method-assign]

    def _note(self, data: bytes, lost: bool) -> None:
        if is_rtcp(data):
            return
        packet = RtpPacket.parse(data)
        if packet.ssrc in self._resent_kind_of:
            if not lost:  # RFC 4588: the payload begins with the original sequence number
                (original,) = struct.unpack_from("!H", packet.payload)
                self._missing[self._resent_kind_of[packet.ssrc]].pop(original, None)
            return
        kind = self._kind_of[packet.ssrc]
        first = self._first.setdefault(kind, packet.timestamp)
        if lost:
            self._missing[kind][packet.sequence_number] = (packet.timestamp - first) % 2**32

    def onset_lost(self, kind: str, pulse: float) -> bool:
        """Whether an onset packet of the pulse at wall-clock ``pulse`` never arrived."""
        missing = self._missing[kind].values()
        if kind == "video":
            # The flash frame: the first frame at or after the pulse (90 kHz RTP clock).
            assert self.video.start_time is not None
            index = math.ceil((pulse - self.video.start_time) * self.video.fps - 1e-6)
            return round(index * 90000 / self.video.fps) in missing
        # Any audio packet of the beep, and one either side (48 kHz, 20 ms each, the
        # encoder's look-ahead moves it a few ms): a gap inside the beep cuts it in two.
        assert self.audio.start_time is not None
        rate, size = self.audio.sample_rate, self.audio.samples_per_frame
        onset = round((pulse - self.audio.start_time) * rate)
        end = onset + round(BEEP_S * rate)
        return any(onset - 2 * size < rtp < end + size for rtp in missing)

    def measured(
        self, directory: Path, kind: str, onsets: Sequence[float]
    ) -> tuple[list[float], list[float]]:
        """The onsets (recording time) of ``kind`` pulses whose onset packets arrived, and the rest.

        A recording's time 0 is the wall-clock instant its manifest calls ``started_at``.
        """
        manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
        t0 = datetime.fromisoformat(manifest["started_at"]).timestamp()
        period, epoch = self.clock.period_s, self.clock.epoch
        kept: list[float] = []
        left: list[float] = []
        for onset in onsets:
            pulse = epoch + round((t0 + onset - epoch) / period) * period
            (left if self.onset_lost(kind, pulse) else kept).append(onset)
        return kept, left


def first_of_each_pulse(onsets: list[float], period_s: float = 2.0) -> list[float]:
    """One onset per pulse: the first, when the detector read a pulse in pieces.

    A beep whose audio is cut inside it (a lost packet, the timeline correcting itself)
    is found as two beeps; the second piece, within the pulse period, starts no pulse.
    """
    kept: list[float] = []
    for onset in sorted(onsets):
        if not kept or onset - kept[-1] >= period_s / 2:
            kept.append(onset)
    return kept


async def pulses(directory: Path, party: str) -> tuple[list[float], list[float], Any]:
    video = await asyncio.to_thread(read_video, sorted(directory.glob(f"{party}-video-*")))
    audio = await asyncio.to_thread(read_audio, sorted(directory.glob(f"{party}-audio-*")))
    return first_of_each_pulse(find_flashes(video)), first_of_each_pulse(find_beeps(audio)), video


async def check_alignment(
    directory: Path, *, lossy: LossyLink | None = None, cross_party_s: float = MAX_OFFSET_S
) -> dict[str, list[float]]:
    """A/V offsets per party within MAX_OFFSET_S, kiosk-to-agent offsets within ``cross_party_s``.

    Over a ``lossy`` link the kiosk pulses whose onset packets were lost are left out (the
    detector finds them late: the loss, not the timeline); every other pulse must be in
    place, as without loss. A link that delays every packet moves the kiosk by its least
    delay, which no clock can tell from the kiosk's clock being late (``cross_party_s``).
    """
    report = await asyncio.to_thread(verify_recording, directory)
    assert report.ok, report.problems
    kiosk_flashes, kiosk_beeps, _ = await pulses(directory, "kiosk")
    agent_flashes, agent_beeps, _ = await pulses(directory, "agent")
    if lossy is not None:
        kiosk_flashes, late_flashes = lossy.measured(directory, "video", kiosk_flashes)
        kiosk_beeps, late_beeps = lossy.measured(directory, "audio", kiosk_beeps)
        print(
            "left out (onset packets lost): kiosk flashes at "
            f"{', '.join(f'{t:.3f}' for t in late_flashes) or '-'} s, kiosk beeps at "
            f"{', '.join(f'{t:.3f}' for t in late_beeps) or '-'} s"
        )
    offsets = {
        "kiosk a/v": av_offsets(kiosk_flashes, kiosk_beeps),
        "agent a/v": av_offsets(agent_flashes, agent_beeps),
        "kiosk->agent video": av_offsets(kiosk_flashes, agent_flashes),
        "kiosk->agent audio": av_offsets(kiosk_beeps, agent_beeps),
    }
    for name, values in offsets.items():  # all printed first, to see a failure whole
        print(f"{name}: {', '.join(f'{v * 1000:+.1f}' for v in values)} ms")
    for name, values in offsets.items():
        limit = cross_party_s if name.startswith("kiosk->agent") else MAX_OFFSET_S
        assert len(values) >= (2 if lossy else 3), (name, values)
        assert all(abs(v) <= limit for v in values), (name, values)
    return offsets


async def test_camera_starting_late_lands_in_place(server: RunningServer) -> None:
    """The kiosk camera starts 0.6 s after its microphone; the agent's 3 s late."""
    directory = await call(server, kiosk_video_delay_s=0.6, agent_video_delay_s=3.0)
    await check_alignment(directory)
    _, _, agent_video = await pulses(directory, "agent")
    # The agent's picture begins about 3 s into the recording, not at 0.
    assert 2.0 < agent_video.times[0] < 4.5


async def test_five_percent_packet_loss(server: RunningServer) -> None:
    """5 % of the kiosk's RTP packets are lost on the way: still in sync and complete."""
    clock = PulseClock(2.0)
    audio = SyntheticAudioTrack(tone_hz=KIOSK_LOOK.tone_hz, pulse=clock)
    video = SyntheticVideoTrack(label=KIOSK_LOOK.label, colour=KIOSK_LOOK.colour, pulse=clock)
    link = LossyLink(clock, audio, video)
    directory = await call(
        server, clock=clock, kiosk_tracks=[audio, video], on_kiosk_connected=link.attach, step_s=2.6
    )
    assert link.dropped > 0.03 * link.sent
    await check_alignment(directory, lossy=link)
    recorded = await asyncio.to_thread(read_video, sorted(directory.glob("kiosk-video-*")))
    span = recorded.times[-1] - recorded.times[0]
    assert len(recorded) >= 0.9 * (span * 15), (len(recorded), span)
