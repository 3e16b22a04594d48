"""The timeline over a simulated hour: drifting clocks, noisy sender reports, jitter.

The simulation drives the real TrackClock/PartyClock with what a sender would send: a
sender wall clock that runs 20 ppm fast and 0.8 s ahead of the server, a sound card
whose RTP clock runs 50 ppm fast against that, sender reports every second stamped
0-30 ms late (encoding delay) and network delays of 1-20 ms.
"""

from __future__ import annotations

import random

import pytest

from media.tap import EncodedFrame
from media.timeline import HOLD_S, PartyClock, SlidingMin, TrackClock

HOUR_S = 3600.0
SENDER_RATE = 1 + 20e-6  # the sender's wall clock against the server's
SENDER_OFFSET_S = 0.8
RTP_ORIGIN = {"audio": 4_000_000_000, "video": 123_456}  # the audio one wraps in the hour


def sender_time(t: float) -> float:
    """The sender's wall clock when the server's reads ``t``."""
    return SENDER_OFFSET_S + t * SENDER_RATE


def rtp_at(kind: str, t: float) -> int:
    """The track's RTP timestamp for a capture at server time ``t``."""
    # The sound card's clock runs 50 ppm fast against the sender's wall clock; the
    # camera is stamped from the wall clock itself.
    rate = 48000 * (1 + 50e-6) if kind == "audio" else 90000
    ticks = sender_time(t) * rate
    return (RTP_ORIGIN[kind] + int(ticks)) & 0xFFFFFFFF


@pytest.mark.parametrize("seed", [1, 2])
def test_an_hour_of_drift_stays_on_the_timeline(seed: int) -> None:
    rng = random.Random(seed)
    party = PartyClock()
    clocks = {kind: TrackClock(kind, party) for kind in ("audio", "video")}
    intervals = {"audio": 0.020, "video": 1 / 15}
    due = {"audio": 0.0, "video": 0.6}  # the camera starts 0.6 s late
    next_report = {"audio": 0.5, "video": 0.7}
    errors: dict[str, list[float]] = {"audio": [], "video": []}
    t = 0.0
    while t < HOUR_S:
        kind = min(due, key=lambda k: due[k])
        t = due[kind]
        due[kind] += intervals[kind]
        clock = clocks[kind]
        if t >= next_report[kind]:
            # Stamped when the frame was sent, after its encoding: 0-30 ms late.
            latency = rng.uniform(0.0, 0.030)
            clock.on_sender_report(sender_time(t + latency), rtp_at(kind, t))
            next_report[kind] = t + rng.uniform(0.5, 1.5)
        arrival = t + rng.uniform(0.001, 0.020)
        frame = EncodedFrame(kind, b"", 0, rtp_at(kind, t), arrival, kind == "audio")
        for placed in clock.place(frame):
            errors[kind].append(placed.wall - true_capture(placed.frame))
    for kind in ("audio", "video"):
        values = errors[kind][3000:]  # after the first minute
        assert len(values) > 40_000
        spread = max(values) - min(values)
        print(f"{kind}: placement error {min(values) * 1000:+.1f} .. {max(values) * 1000:+.1f} ms")
        # Placed frames follow the true capture times within a few milliseconds for the
        # whole hour, although 20 ppm and 50 ppm alone would have drifted 72 and 180 ms.
        assert spread < 0.012, (kind, min(values), max(values))
    # Audio and video share the party's offset, so their errors agree: A/V stays in sync.
    a, v = errors["audio"][-2000:], errors["video"][-600:]
    assert abs(sum(a) / len(a) - sum(v) / len(v)) < 0.010


def true_capture(frame: EncodedFrame) -> float:
    """The server time at which the simulation captured ``frame`` (by its RTP time)."""
    # Recover t from the RTP timestamp (both tracks' clocks are known exactly here).
    kind = frame.kind
    rate = 48000 * (1 + 50e-6) if kind == "audio" else 90000
    ticks = (frame.rtp_timestamp - RTP_ORIGIN[kind]) & 0xFFFFFFFF
    # The audio clock wraps once in the hour: add the wrap back where it happened.
    candidates = [(ticks + k * (1 << 32)) / rate for k in range(2)]
    sender = min(candidates, key=lambda s: abs((s - SENDER_OFFSET_S) / SENDER_RATE - frame.arrival))
    return (sender - SENDER_OFFSET_S) / SENDER_RATE


def test_sliding_min_forgets_old_values() -> None:
    window = SlidingMin(10.0)
    assert window.add(0.0, 5.0) == 5.0
    assert window.add(1.0, 7.0) == 5.0
    assert window.add(2.0, 3.0) == 3.0
    assert window.add(11.5, 9.0) == 3.0
    assert window.add(12.5, 9.0) == 9.0


def simulate_call(
    late_reports: dict[tuple[str, str], float], seconds: float = 12.0
) -> dict[tuple[str, str], list[float]]:
    """Two parties on one clock; each frame's placement error, per (party, kind).

    Sender reports are stamped 2 ms after capture, except the first report of each
    track named in ``late_reports``, stamped that much later (a sender busy encoding).
    Before a camera's first packet its sender reports NTP time 0, as aiortc does. The
    agent's camera starts 3 s late.
    """
    intervals = {"audio": 0.020, "video": 1 / 15}
    starts = {("kiosk", "audio"): 0.0, ("kiosk", "video"): 0.6}
    starts |= {("agent", "audio"): 0.0, ("agent", "video"): 3.0}
    clocks: dict[tuple[str, str], TrackClock] = {}
    for party in ("kiosk", "agent"):
        party_clock = PartyClock()
        for kind in intervals:
            clocks[party, kind] = TrackClock(kind, party_clock)
    frames = sorted(
        (start + i * intervals[key[1]], key)
        for key, start in starts.items()
        for i in range(int((seconds - start) / intervals[key[1]]))
    )
    next_report = {key: 0.5 for key in starts}
    errors: dict[tuple[str, str], list[float]] = {key: [] for key in starts}
    for t, key in frames:
        clock, kind = clocks[key], key[1]
        if t >= next_report[key]:
            late = late_reports.pop(key, 0.0) if t > starts[key] else 0.0
            ntp = t + 0.002 + late if t > starts[key] else -2208988800.0  # NTP time 0
            clock.on_sender_report(ntp, rtp_at(kind, t))
            next_report[key] = t + 1.0
        frame = EncodedFrame(kind, b"", 0, rtp_at(kind, t), t + 0.003, kind == "audio")
        for placed in clock.place(frame):
            errors[key].append(placed.wall - capture_of(kind, placed.frame.rtp_timestamp))
    return errors


def capture_of(kind: str, rtp_timestamp: int) -> float:
    """The capture time of a frame of :func:`simulate_call`, by its RTP timestamp."""
    rate = 48000 * (1 + 50e-6) if kind == "audio" else 90000
    return ((rtp_timestamp - RTP_ORIGIN[kind]) & 0xFFFFFFFF) / rate / SENDER_RATE - SENDER_OFFSET_S


def test_a_late_first_sender_report_shifts_nothing() -> None:
    # A busy sender stamped the first report of the agent's late camera 100 ms late,
    # and the kiosk microphone's 60 ms. Frames already placed cannot move, and an
    # ``arrival - sent`` taken with that report would stay the party's minimum for
    # half a minute: the party would land 100 ms early for the rest of the window.
    late = {("agent", "video"): 0.100, ("kiosk", "audio"): 0.060}
    errors = simulate_call(late)
    every = [e for values in errors.values() for e in values]
    for key, values in errors.items():
        print(f"{key}: {min(values) * 1000:+.1f} .. {max(values) * 1000:+.1f} ms")
        assert len(values) > 100, key
    # All four tracks of both parties share one timeline, from their first frame.
    assert max(every) - min(every) < 0.003


def test_no_frame_waits_for_sender_reports() -> None:
    # A short part (a server killed 2 s in) whose microphone has sent no sender report
    # yet: its frames are held half a second at most and placed by their arrivals.
    clock = TrackClock("audio", PartyClock())
    errors: list[float] = []
    for i in range(100):
        t = i * 0.020
        frame = EncodedFrame("audio", b"", 0, rtp_at("audio", t), t + 0.003, True)
        for placed in clock.place(frame):
            assert frame.arrival - placed.frame.arrival <= HOLD_S + 1e-9
            errors.append(placed.wall - capture_of("audio", placed.frame.rtp_timestamp))
    assert len(errors) == 100
    assert all(0.002 < e < 0.004 for e in errors), (min(errors), max(errors))
    # A part closed while frames are held: they are placed, none is lost.
    clock = TrackClock("video", PartyClock())
    for i in range(5):
        frame = EncodedFrame("video", b"", 0, rtp_at("video", i / 15), i / 15 + 0.003, False)
        assert clock.place(frame) == []
    assert len(clock.drain()) == 5
