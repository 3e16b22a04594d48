"""Packet loss with jitter on the kiosk's network: what is recorded and heard is what arrived.

The kiosk's sender loses 5 % of its packets and delays every other one by 50 ± 20 ms
(each packet on its own, so they overtake one another, as netem's ``delay 50ms 20ms``
does; this kernel has no netem). Of each track's packets one in every run of 20 is
lost, at random within the run: exactly 5 %, so the test measures the recorder and
not the dice (random 5 % of 900 packets is 6 % or more one time in ten). The packets
are real SRTP over loopback between real aiortc peers and the server. A lost Opus
packet is one 20 ms frame: the recording and the agent may miss that frame, never
more, and nothing that arrived out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiortc.rtp import RtpPacket, is_rtcp

from agent_console import ScriptedAgent
from kiosk_client import Kiosk
from media.counts import DropReason
from media.verify import TrackReport, verify_recording
from synthetic import AGENT_LOOK, KIOSK_LOOK, PulseClock, SyntheticAudioTrack, SyntheticVideoTrack
from tests.e2e.test_sync import MAX_OFFSET_S, LossyLink, check_alignment, tracks
from tests.support import RunningServer

#: A/V offsets are measured: alone, not beside other tests (./dev test).
pytestmark = pytest.mark.serial

#: An Opus frame of the synthetic microphone (seconds).
AUDIO_FRAME_S = 0.020


class JitteryLink(LossyLink):
    """The kiosk's network: loses 5 % of its packets, delays each other one 30-70 ms.

    Packets are taken at the kiosk's DTLS transport before encryption (so each RTP header
    is read), and encrypted and sent when their delay is up, in the order they come due.
    """

    def __init__(
        self,
        clock: PulseClock,
        audio: SyntheticAudioTrack,
        video: SyntheticVideoTrack,
        *,
        delay_s: float = 0.050,
        jitter_s: float = 0.020,
    ) -> None:
        super().__init__(clock, audio, video)
        self.rng = random.Random(13)
        self.delay_s, self.jitter_s = delay_s, jitter_s
        #: kind -> (wall-clock time sent, RTP timestamp) of each original RTP packet
        self.sent_at: dict[str, list[tuple[float, int]]] = {"audio": [], "video": []}
        self._in_flight: set[asyncio.Future[None]] = set()
        #: SSRC -> packets sent so far, and which of the current run is lost.
        self._counts: dict[int, int] = {}
        self._victims: dict[int, int] = {}

    def attach(self, kiosk: Kiosk, rate: float = 0.05) -> None:
        """Lose ``rate`` of everything the kiosk sends (RTP, RTX, RTCP), delay the rest."""
        assert kiosk.client.pc is not None
        senders = kiosk.client.pc.getSenders()
        self._kind_of = {sender._ssrc: sender.kind for sender in senders}
        self._resent_kind_of = {sender._rtx_ssrc: sender.kind for sender in senders}
        loop = asyncio.get_running_loop()
        for transport in {sender.transport for sender in senders}:
            assert transport.state in ("new", "connecting"), transport.state
            send = transport._send_rtp

            async def send_rtp(data: bytes, send: Any = send) -> None:
                self.sent += 1
                lost = self._loses(data, rate)
                self._note(data, lost)
                if lost:
                    self.dropped += 1
                    return
                delay = self.delay_s + self.rng.uniform(-self.jitter_s, self.jitter_s)
                loop.call_later(delay, self._deliver, send, data)

            transport._send_rtp = send_rtp  # type: ignore[method-assign]

    def _loses(self, data: bytes, rate: float) -> bool:
        """Whether to lose a packet: one at random in each run of ``1 / rate`` of a track's
        own RTP packets (exactly ``rate`` of each, however the dice fall), and
        retransmissions and RTCP packets each with probability ``rate``."""
        if not is_rtcp(data):
            ssrc = RtpPacket.parse(data).ssrc
            if ssrc in self._kind_of:
                run = round(1 / rate)
                place = self._counts.get(ssrc, 0) % run
                self._counts[ssrc] = self._counts.get(ssrc, 0) + 1
                if place == 0:
                    self._victims[ssrc] = self.rng.randrange(run)
                return place == self._victims[ssrc]
        return self.rng.random() < rate

    def _note(self, data: bytes, lost: bool) -> None:
        super()._note(data, lost)
        if not is_rtcp(data):
            packet = RtpPacket.parse(data)
            kind = self._kind_of.get(packet.ssrc)
            if kind is not None:
                self.sent_at[kind].append((time.time(), packet.timestamp))

    def _deliver(self, send: Any, data: bytes) -> None:
        task = asyncio.ensure_future(self._send(send, data))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    @staticmethod
    async def _send(send: Any, data: bytes) -> None:
        with contextlib.suppress(ConnectionError):  # the call ended on the way
            await send(data)

    def frames_sent(self, kind: str, start: float, end: float) -> int:
        """Frames (distinct RTP timestamps) sent between wall-clock ``start`` and ``end``."""
        return len({ts for at, ts in self.sent_at[kind] if start <= at <= end})

    def lost(self, kind: str) -> int:
        """Packets of ``kind`` that never arrived (a retransmission brings video back)."""
        return len(self._missing[kind])


def started_at(directory: Path) -> float:
    """The wall-clock instant a recording's time 0 stands for."""
    manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
    return datetime.fromisoformat(manifest["started_at"]).timestamp()


def run_verify(directory: Path, data_dir: Path, *, as_json: bool = True) -> str:
    """What ``dualrec verify`` prints of a recording, as an auditor runs it."""
    command = [sys.executable, "-m", "dualrec", "verify", str(directory), "--data-dir"]
    command += [str(data_dir), "--json"] if as_json else [str(data_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


async def test_loss_and_jitter_cost_only_the_lost_frames(server: RunningServer) -> None:
    """5 % loss and 50 ± 20 ms jitter: audio recorded and heard ≥ 94 %, video ≥ 98 %, in sync."""
    clock = PulseClock(2.0)
    audio_track = SyntheticAudioTrack(tone_hz=KIOSK_LOOK.tone_hz, pulse=clock)
    video_track = SyntheticVideoTrack(label=KIOSK_LOOK.label, colour=KIOSK_LOOK.colour, pulse=clock)
    link = JitteryLink(clock, audio_track, video_track)
    kiosk_token = await server.db.add_credential("kiosk", "K1", "BJ-001")
    agent_token = await server.db.add_credential("agent", "A1")
    kiosk = Kiosk(server.ws_url, kiosk_token, [audio_track, video_track])
    agent = ScriptedAgent(server.ws_url, agent_token, tracks(AGENT_LOOK, clock), step_s=2.6)
    runs = asyncio.gather(kiosk.run(), agent.run())
    while kiosk.client.pc is None:
        await asyncio.sleep(0.01)
    link.attach(kiosk)
    _, result = await runs
    assert result.session_id is not None
    directory = server.settings.recordings_dir / result.session_id
    assert link.dropped > 0.03 * link.sent

    report = await asyncio.to_thread(verify_recording, directory)
    assert report.ok, report.problems
    t0 = started_at(directory)
    recorded = {(t.party, t.kind): t for t in report.tracks}
    audio, video = recorded["kiosk", "audio"], recorded["kiosk", "video"]

    def sent_during(track: TrackReport) -> int:
        assert track.start_s is not None and track.end_s is not None
        return link.frames_sent(track.kind, t0 + track.start_s, t0 + track.end_s)

    # What was sent while the track was recorded: by the send times, and by the track's
    # span (the recording keeps each frame at its RTP time), whichever is more.
    audio_sent = max(sent_during(audio), round(audio.duration_s / AUDIO_FRAME_S))
    video_sent = max(sent_during(video), round(video.duration_s * video_track.fps) + 1)
    heard = agent.client.received_frames["audio"]
    first, last = agent.client.received_span["audio"]
    heard_span = round((last - first) / AUDIO_FRAME_S) + 1
    too_late = server.centre.media.frames.dropped["audio", DropReason.TOO_LATE]
    print(
        f"packets {link.sent}, dropped {link.dropped} (audio {link.lost('audio')}, "
        f"too late {too_late}, "
        f"video not recovered {link.lost('video')}); "
        f"kiosk audio recorded {audio.frames} of {audio_sent} sent "
        f"({share(audio.frames, audio_sent):.1%}), {len(audio.holes)} holes "
        f"({', '.join(f'{hole.length:.3f}' for hole in audio.holes[:15])} s), "
        f"missing {audio.missing_share:.1%}; "
        f"heard by the agent {heard} of {heard_span} ({share(heard, heard_span):.1%}); "
        f"video recorded {video.frames} of {video_sent} ({share(video.frames, video_sent):.1%}), "
        f"missing {video.missing_share:.1%}"
    )
    assert audio.frames >= 0.94 * audio_sent, (audio.frames, audio_sent)
    assert heard >= 0.94 * heard_span, (heard, heard_span)
    assert video.frames >= 0.98 * video_sent, (video.frames, video_sent)
    # verify names every hole with its length, and the share of the track missing.
    assert audio.holes, "5 % loss left no hole in the kiosk's audio"
    holes_s = sum(hole.length for hole in audio.holes)
    assert abs(audio.missing_share - holes_s / audio.duration_s) < 0.001
    # Each hole is no wider than the packets lost in it: a lost packet is one 20 ms hole
    # (or one that came after the wait for it was over: media.reorder, counted too_late).
    hole_frames = sum(round(hole.length / AUDIO_FRAME_S) for hole in audio.holes)
    assert hole_frames <= link.lost("audio") + too_late, (hole_frames, link.lost("audio"))
    # dualrec verify (its own process) lists every hole, with its length, and each share.
    data_dir = server.settings.data_dir
    text = json.loads(await asyncio.to_thread(run_verify, directory, data_dir))
    kiosk_audio = next(t for t in text["tracks"] if t["party"] == "kiosk" and t["kind"] == "audio")
    assert kiosk_audio["holes"] == [{"at": h.at, "length": h.length} for h in audio.holes]
    assert kiosk_audio["missing_share"] == audio.missing_share
    people = await asyncio.to_thread(run_verify, directory, data_dir, as_json=False)
    assert f"{len(audio.holes)} holes, {audio.missing_s:.3f} s missing" in people
    assert all(f"{h.at:.3f} +{h.length:.3f}" in people for h in audio.holes)
    # In sync: every pulse whose onset packets arrived is in place (as in test_sync.py).
    # The kiosk lands later than the agent by the link's least delay (30 ms): the server
    # cannot tell that from a kiosk clock 30 ms late, and it is when the agent heard it.
    least_delay_s = link.delay_s - link.jitter_s
    await check_alignment(directory, lossy=link, cross_party_s=MAX_OFFSET_S + least_delay_s)
