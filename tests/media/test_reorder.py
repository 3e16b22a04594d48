"""Audio packets back in order (media.reorder) and the holes verify finds (media.holes)."""

from __future__ import annotations

import random

from aiortc.rtp import RtpPacket

from media.holes import Hole, audio_holes, opus_duration, video_holes
from media.reorder import MAX_HELD, MAX_WAIT_S, REORDER_WAIT_S, AudioReorder

#: An Opus TOC byte of one 20 ms CELT frame (configuration 31, code 0), as aiortc sends.
OPUS_20MS = bytes([31 << 3])


def packet(seq: int) -> RtpPacket:
    return RtpPacket(
        payload_type=111, sequence_number=seq & 0xFFFF, timestamp=seq * 960, payload=OPUS_20MS
    )


def released(buffer: AudioReorder, arrivals: list[tuple[float, int]]) -> list[int]:
    """Sequence numbers handed on, packets arriving as (time, sequence number)."""
    out: list[int] = []
    for at, seq in arrivals:
        out += [a.packet.sequence_number for a in buffer.add(packet(seq), at)]
    out += [a.packet.sequence_number for a in buffer.flush()]
    return out


def test_jitter_reorders_and_loses_nothing() -> None:
    """50 ± 20 ms of delay per packet, sent every 20 ms: every packet handed on, in order."""
    rng = random.Random(1)
    sent = range(65500, 65500 + 500)  # across the 16-bit wrap
    arrivals = sorted((i * 0.020 + rng.uniform(0.030, 0.070), seq) for i, seq in enumerate(sent))
    assert [s for _, s in arrivals] != list(sent)  # they did overtake one another
    buffer = AudioReorder()
    assert released(buffer, arrivals) == [seq & 0xFFFF for seq in sent]
    assert buffer.late == buffer.skipped == 0


def test_a_lost_packet_is_given_up_once_the_wait_is_over() -> None:
    buffer = AudioReorder()
    assert [a.packet.sequence_number for a in buffer.add(packet(1), 0.0)] == [1]
    assert buffer.add(packet(3), 0.020) == []  # 2 is missing: 3 waits
    assert buffer.add(packet(4), 0.040) == []
    assert buffer.waiting
    # No later packet needed: the wait is counted from the first one held.
    due = [a.packet.sequence_number for a in buffer.due(0.020 + REORDER_WAIT_S)]
    assert due == [3, 4] and buffer.skipped == 1 and not buffer.waiting
    # 2 coming now is too late: 3 and 4 were handed on; 4 again is a duplicate.
    assert buffer.add(packet(2), 0.2) == [] and buffer.late == 1
    assert buffer.add(packet(4), 0.2) == [] and buffer.late == 1 and buffer.duplicates == 1


def test_the_wait_follows_the_lateness_seen() -> None:
    """A packet 0.18 s late doubles into a 0.36 s wait for ten seconds, then 80 ms again."""
    buffer = AudioReorder()
    buffer.add(packet(1), 0.0)
    buffer.add(packet(3), 0.02)
    assert [a.packet.sequence_number for a in buffer.add(packet(4), 0.10)] == [3, 4]
    assert buffer.add(packet(2), 0.20) == [] and buffer.late == 1
    assert round(buffer.wait_s, 3) == 0.36
    # Now a packet as late is waited for.
    buffer.add(packet(6), 0.30)
    assert buffer.add(packet(7), 0.45) == []
    assert [a.packet.sequence_number for a in buffer.add(packet(5), 0.48)] == [5, 6, 7]
    assert buffer.late == 1 and buffer.skipped == 1
    buffer.due(0.48 + 10.1)  # ten seconds after the last late packet (5)
    assert buffer.wait_s == REORDER_WAIT_S


def test_the_wait_has_a_ceiling() -> None:
    buffer = AudioReorder()
    buffer.add(packet(1), 0.0)
    buffer.add(packet(3), 0.02)
    buffer.due(0.2)
    buffer.add(packet(2), 5.0)
    assert buffer.wait_s == MAX_WAIT_S


def test_nothing_waits_while_nothing_is_missing() -> None:
    buffer = AudioReorder()
    for seq in range(10):
        assert len(buffer.add(packet(seq), seq * 0.020)) == 1
    assert buffer.add(packet(9), 0.3) == []  # a duplicate of one handed on
    assert not buffer.waiting and buffer.duplicates == 1 and buffer.late == 0


def test_a_restarted_sender_is_followed() -> None:
    buffer = AudioReorder()
    assert released(buffer, [(0.0, 100), (0.02, 101), (0.04, 20000), (0.06, 20001)]) == [
        100,
        101,
        20000,
        20001,
    ]


def test_at_most_a_second_is_held() -> None:
    buffer = AudioReorder(wait_s=60.0)
    buffer.add(packet(0), 0.0)
    out: list[int] = []
    for seq in range(2, 3 + MAX_HELD):
        out += [a.packet.sequence_number for a in buffer.add(packet(seq), 0.0)]
    assert out == list(range(2, 3 + MAX_HELD)) and buffer.skipped == 1


def test_opus_durations() -> None:
    assert opus_duration(OPUS_20MS) == 0.020
    assert opus_duration(bytes([(1 << 3) | 1, 0])) == 0.040  # SILK 20 ms, two frames
    assert opus_duration(bytes([(16 << 3) | 3, 4])) == 0.010  # CELT 2.5 ms, four frames
    assert opus_duration(b"") is None


def test_audio_holes_are_exactly_the_missing_frames() -> None:
    times = [i * 0.020 for i in range(100) if i not in (10, 50, 51)]
    times[30] += 0.004  # the timeline's rounding is no hole
    holes = audio_holes(times, [0.020] * len(times))
    assert holes == [Hole(0.2, 0.02), Hole(1.0, 0.04)]


def test_video_holes_are_measured_against_the_frame_interval() -> None:
    times = [i / 15 for i in range(60) if i not in (20, 40, 41, 42)]
    holes = video_holes(times)
    assert [(h.at, round(h.length, 2)) for h in holes] == [(1.333, 0.07), (2.667, 0.2)]
