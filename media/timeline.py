"""One timeline for every track of both parties, from RTCP sender reports.

Each track's RTP clock is mapped to its sender's wall clock (NTP) by RTCP sender
reports, so a camera that starts late or a party that joins late lands where it
belongs, not at the start of its own file. A sender report pairs the RTP time of the
frame just sent with the moment it was sent, which is later than its capture by the
sender's encoding and queueing delay; of the reports of the last half minute, the one
with the least delay is used (the earliest mapping), so that delay does not shake the
timeline, while a sender clock that drifts over an hour is still followed.

The sender's wall clock is then mapped to the server's by a per-party offset (the
smallest ``arrival - sent`` of the last half minute), which shifts a party's audio and
video alike and so keeps them in sync with each other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .tap import CLOCK_RATES, EncodedFrame

#: Frames wait this long for a track's first sender report before arrival time is used.
SENDER_REPORT_WAIT_S = 3.0
#: Sender reports and clock offsets are taken as the best of this many seconds.
WINDOW_S = 30.0


def _rtp_delta(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, as a signed number."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


class SlidingMin:
    """The minimum of the values added in the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW_S) -> None:
        self.window = window
        # Increasing values, each with when it was added: the head is the minimum.
        self._items: deque[tuple[float, float]] = deque()

    def add(self, at: float, value: float) -> float:
        """Add ``value`` seen at time ``at``; returns the current minimum."""
        items = self._items
        while items and items[-1][1] >= value:
            items.pop()
        items.append((at, value))
        while items[0][0] < at - self.window:
            items.popleft()
        return items[0][1]


class PartyClock:
    """Maps one party's sender wall clock to the server's wall clock."""

    def __init__(self) -> None:
        self.offset: float | None = None
        self._deltas = SlidingMin()

    def observe(self, sent: float, arrival: float) -> None:
        """Learn from one frame: the smallest recent ``arrival - sent`` is the offset."""
        self.offset = self._deltas.add(arrival, arrival - sent)

    def to_server(self, sent: float) -> float:
        """A sender wall-clock time as server wall-clock time."""
        return sent + (self.offset or 0.0)


@dataclass(slots=True)
class PlacedFrame:
    """A frame with its place on the server's wall clock."""

    frame: EncodedFrame
    wall: float


class TrackClock:
    """Places one track's frames on the server's wall clock."""

    def __init__(self, kind: str, party_clock: PartyClock) -> None:
        self.kind = kind
        self.clock_rate = CLOCK_RATES[kind]
        self._party = party_clock
        #: The RTP timestamp that RTP times are counted from, and the best mapping:
        #: sender wall-clock time at that RTP timestamp.
        self._rtp_origin: int | None = None
        self._base: float | None = None
        self._bases = SlidingMin()
        self._pending: deque[EncodedFrame] = deque()
        self.sender_reports = 0
        self.fallback = False

    def on_sender_report(
        self, ntp_seconds: float, rtp_timestamp: int, received: float | None = None
    ) -> None:
        """Take an RTP-to-wall-clock mapping from an RTCP sender report."""
        if self._rtp_origin is None:
            self._rtp_origin = rtp_timestamp
        base = ntp_seconds - _rtp_delta(rtp_timestamp, self._rtp_origin) / self.clock_rate
        self._base = self._bases.add(ntp_seconds if received is None else received, base)
        self.sender_reports += 1

    def _sent(self, frame: EncodedFrame) -> float:
        if self._base is None or self._rtp_origin is None:
            return frame.arrival
        return self._base + _rtp_delta(frame.rtp_timestamp, self._rtp_origin) / self.clock_rate

    def place(self, frame: EncodedFrame) -> list[PlacedFrame]:
        """Place a frame; frames wait (in order) until the first sender report."""
        if self._base is None and not self.fallback:
            self._pending.append(frame)
            if frame.arrival - self._pending[0].arrival < SENDER_REPORT_WAIT_S:
                return []
            # No sender report in time: fall back to arrival times for this track.
            self.fallback = True
        frames = [*self._pending, frame] if self._pending else [frame]
        self._pending.clear()
        placed = []
        for f in frames:
            sent = self._sent(f)
            self._party.observe(sent, f.arrival)
            placed.append(PlacedFrame(f, self._party.to_server(sent)))
        return placed

    def drain(self) -> list[PlacedFrame]:
        """Place whatever still waits for a sender report (at hang-up)."""
        if not self._pending:
            return []
        self.fallback = self._base is None
        first, *rest = self._pending
        self._pending.clear()
        placed = self.place(first)
        for f in rest:
            placed += self.place(f)
        return placed
