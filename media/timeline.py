"""One timeline for every track of both parties, from RTCP sender reports.

Each track's RTP clock is mapped to its sender's wall clock (NTP) by RTCP sender
reports, so a camera that starts late or a party that joins late lands where it
belongs, not at the start of its own file. A sender report pairs the RTP time of the
frame just sent with the moment it was sent, which is later than its capture by the
sender's encoding and queueing delay; of the reports of the last half minute, the one
with the least delay is used (the earliest mapping), so that delay does not shake the
timeline, while a sender clock that drifts over an hour is still followed.

The sender's wall clock is then mapped to the server's by a per-party offset, the
smallest ``arrival - sent`` of the last half minute, which shifts a party's audio and
video alike and so keeps them in sync with each other. Both minima are kept against
the RTP clock (``sent - rtp`` and ``arrival - rtp``) and the offset is worked out from
the current ones whenever a frame is placed: a sample of ``arrival - sent`` taken with
an earlier, worse sender report would be too small by that report's extra delay and
would shift the whole party for half a minute.

A track counts in its party's offset once it has had a few sender reports (or after a
few seconds), so that one report that happened to be sent late does not shift the
others. Its frames never wait that long: they are held for half a second at most (so
that the first of them are placed by the best arrival of that half second, and a
killed server loses little) and then placed by the earlier of two mappings, the
sender report's and the track's own arrivals. A late report maps frames too late, and
the arrivals never do: every frame arrives after it was sent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .tap import CLOCK_RATES, EncodedFrame

#: A track counts in its party's offset once it has had this many sender reports ...
SENDER_REPORTS_TO_SETTLE = 3
#: ... or this long (seconds) after its first frame, with whatever reports it had.
SENDER_REPORT_WAIT_S = 4.0
#: The first frames of a track are held this long (seconds) before they are placed.
HOLD_S = 0.5
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
        self._tracks: list[TrackClock] = []

    def join(self, track: TrackClock) -> None:
        """Count ``track`` (one of the party's) in the offset."""
        self._tracks.append(track)

    @property
    def offset(self) -> float | None:
        """Server minus sender wall clock: the smallest recent ``arrival - sent``.

        Only tracks whose frames are placed count: one still waiting for its sender
        reports may have had only a late one, which would shift the others.
        """
        offsets = [t.offset for t in self._tracks if t.settled and t.offset is not None]
        return min(offsets) if offsets else None


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
        party_clock.join(self)
        #: The RTP timestamp that RTP times are counted from, and at that RTP time the
        #: best mappings: the sender's wall clock (sender reports) and the server's
        #: (arrivals, which include every delay on the way).
        self._rtp_origin: int | None = None
        self._base: float | None = None
        self._arrival_base: float | None = None
        self._bases = SlidingMin()
        self._arrival_bases = SlidingMin()
        self._pending: deque[EncodedFrame] = deque()
        self._first_arrival: float | None = None
        self.sender_reports = 0
        #: Whether the track counts in the party's offset (its sender reports settled).
        self.settled = False
        #: Whether frames are placed as they come (the first ones are held briefly).
        self.placing = False

    @property
    def offset(self) -> float | None:
        """This track's smallest recent ``arrival - sent``, by the current mappings."""
        if self._base is None or self._arrival_base is None:
            return None
        return self._arrival_base - self._base

    def on_sender_report(
        self, ntp_seconds: float, rtp_timestamp: int, received: float | None = None
    ) -> None:
        """Take an RTP-to-wall-clock mapping from an RTCP sender report."""
        if ntp_seconds <= 0:
            return  # sent before the first packet (aiortc does): it maps nothing
        base = ntp_seconds - self._rtp_seconds(rtp_timestamp)
        self._base = self._bases.add(ntp_seconds if received is None else received, base)
        self.sender_reports += 1

    def _rtp_seconds(self, rtp_timestamp: int) -> float:
        if self._rtp_origin is None:
            self._rtp_origin = rtp_timestamp
        return _rtp_delta(rtp_timestamp, self._rtp_origin) / self.clock_rate

    def observe(self, frame: EncodedFrame) -> None:
        """Learn from a frame's arrival without placing it (one that is not recorded)."""
        if self._first_arrival is None:
            self._first_arrival = frame.arrival
        rtp = self._rtp_seconds(frame.rtp_timestamp)
        self._arrival_base = self._arrival_bases.add(frame.arrival, frame.arrival - rtp)
        if not self.settled:
            waited = frame.arrival - self._first_arrival
            self.settled = self._base is not None and (
                self.sender_reports >= SENDER_REPORTS_TO_SETTLE or waited >= SENDER_REPORT_WAIT_S
            )

    def place(self, frame: EncodedFrame) -> list[PlacedFrame]:
        """Place a frame; a track's first frames are held (in order) for ``HOLD_S``."""
        self.observe(frame)
        if self.placing:
            return [PlacedFrame(frame, self._wall(frame))]
        self._pending.append(frame)
        if self.settled or frame.arrival - self._pending[0].arrival >= HOLD_S:
            return self.drain()
        return []

    def _wall(self, frame: EncodedFrame) -> float:
        """The earlier of the sender report's mapping and the track's own arrivals."""
        rtp = self._rtp_seconds(frame.rtp_timestamp)
        assert self._arrival_base is not None
        by_arrival = self._arrival_base + rtp
        offset = self._party.offset
        if self._base is None or offset is None:
            return by_arrival
        return min(self._base + rtp + offset, by_arrival)

    def drain(self) -> list[PlacedFrame]:
        """Place whatever is held (at hang-up, before an announcement, or once due)."""
        if not self._pending:
            return []
        self.placing = True
        frames = list(self._pending)
        self._pending.clear()
        return [PlacedFrame(f, self._wall(f)) for f in frames]
