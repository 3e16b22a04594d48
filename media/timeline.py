"""One timeline for every track of both parties, from RTCP sender reports.

Each track's RTP clock is mapped to its sender's wall clock (NTP) by the latest
sender report, so a camera that starts late or a party that joins late lands where
it belongs, not at the start of its own file. The sender's wall clock is then mapped
to the server's by a per-party offset (the smallest ``arrival - sent`` seen), which
shifts a party's audio and video alike and so keeps them in sync with each other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .tap import CLOCK_RATES, EncodedFrame

#: Frames wait this long for a track's first sender report before arrival time is used.
SENDER_REPORT_WAIT_S = 3.0


def _rtp_delta(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, as a signed number."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


class PartyClock:
    """Maps one party's sender wall clock to the server's wall clock."""

    def __init__(self) -> None:
        self.offset: float | None = None

    def observe(self, sent: float, arrival: float) -> None:
        """Learn from one frame: the smallest ``arrival - sent`` is the offset."""
        delta = arrival - sent
        if self.offset is None or delta < self.offset:
            self.offset = delta

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
        self._report: tuple[float, int] | None = None
        self._pending: deque[EncodedFrame] = deque()
        self.sender_reports = 0
        self.fallback = False

    def on_sender_report(self, ntp_seconds: float, rtp_timestamp: int) -> None:
        """Take a new RTP-to-wall-clock mapping from an RTCP sender report."""
        self._report = (ntp_seconds, rtp_timestamp)
        self.sender_reports += 1

    def _sent(self, frame: EncodedFrame) -> float:
        if self._report is None:
            return frame.arrival
        ntp, rtp = self._report
        return ntp + _rtp_delta(frame.rtp_timestamp, rtp) / self.clock_rate

    def place(self, frame: EncodedFrame) -> list[PlacedFrame]:
        """Place a frame; frames wait (in order) until the first sender report."""
        if self._report is None and not self.fallback:
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
        self.fallback = self._report is None
        first, *rest = self._pending
        self._pending.clear()
        placed = self.place(first)
        for f in rest:
            placed += self.place(f)
        return placed
