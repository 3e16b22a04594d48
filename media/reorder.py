"""Audio packets put back in the order they were sent, by their RTP sequence numbers.

The tap takes audio packet by packet, past aiortc's audio jitter buffer (media.tap).
On a network with jitter, packets overtake one another: with 50 ± 20 ms of delay a
packet sent 20 ms after another often arrives before it. Handing each packet on as it
came and dropping any older than the last one handed on made every overtaken packet a
lost frame (three holes for each packet really lost). ``AudioReorder`` holds the
packets after a missing sequence number until it comes or the wait has passed since
the first of them arrived; only then is the missing one given up, as one hole exactly
as long as its frame. Nothing waits while nothing is missing.

The wait is ``REORDER_WAIT_S`` at least, and follows the reordering seen: a packet
that kept later ones waiting (or came after it was given up) for longer than half
the wait lengthens it to twice that lateness, for ``LATENESS_WINDOW_S``, at most
``MAX_WAIT_S``. A network's jitter is not known in advance, and a busy server reads
its sockets late: at a load average of 14 on two cores, packets came up to 175 ms
after ones sent 60 ms after them, where the network's ± 20 ms allowed 40.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from aiortc.rtp import RtpPacket

#: How long packets wait for an earlier, missing one (seconds). Jitter of ± 20 ms lets
#: a packet come up to 40 ms after the one sent after it; twice that is given.
REORDER_WAIT_S = 0.080
#: The longest wait, however late packets have come (seconds).
MAX_WAIT_S = 0.500
#: A lateness seen lengthens the wait for this long (seconds).
LATENESS_WINDOW_S = 10.0
#: Packets given up remembered, to tell how late they came if they do.
GIVEN_UP_KEPT = 32
#: At most this many packets wait (a second of 20 ms frames), however recent.
MAX_HELD = 50
#: A sequence number this far from the expected one starts the stream afresh (the
#: sender restarted), rather than waiting for thousands of packets.
MAX_JUMP = 3000
MAX_MISORDER = 100


def _seq_delta(a: int, b: int) -> int:
    """``a - b`` for 16-bit RTP sequence numbers, as a signed number."""
    d = (a - b) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


@dataclass(slots=True)
class Arrived:
    """A packet with the server's wall-clock time of its arrival."""

    packet: RtpPacket
    arrival: float


class AudioReorder:
    """Releases one track's packets in sequence order, waiting briefly for missing ones."""

    def __init__(self, wait_s: float = REORDER_WAIT_S) -> None:
        #: The shortest wait, and the wait now (longer after late packets).
        self.min_wait_s = self.wait_s = wait_s
        #: (arrival, lateness) of late packets in the window, lateness decreasing.
        self._lateness: deque[tuple[float, float]] = deque()
        #: Sequence number given up -> arrival of the first packet that waited for it.
        self._given_up: dict[int, float] = {}
        #: The sequence number to hand on next (None before the first packet).
        self._next: int | None = None
        self._held: dict[int, Arrived] = {}
        #: Packets that came after their turn had been given up, and duplicates.
        self.late = 0
        self.duplicates = 0
        #: Sequence numbers given up as lost.
        self.skipped = 0

    @property
    def waiting(self) -> bool:
        """Whether packets are held for a missing one."""
        return bool(self._held)

    def add(self, packet: RtpPacket, arrival: float) -> list[Arrived]:
        """Take a packet that arrived at ``arrival``; returns those now due, in order."""
        seq = packet.sequence_number
        if self._next is None:
            self._next = seq
        delta = _seq_delta(seq, self._next)
        if delta < -MAX_MISORDER or delta > MAX_JUMP:
            # The sender started again: hand on what is held, then follow the new numbers.
            released = self.flush()
            self._next = seq
            return released + self.add(packet, arrival)
        if delta < 0:
            if seq in self._given_up:
                self.late += 1
                self._learn(arrival, arrival - self._given_up.pop(seq))
            else:
                self.duplicates += 1
            return []
        if seq in self._held:
            self.duplicates += 1
            return []
        if delta == 0 and self._held:
            # It kept the packets after it waiting: that is how late it came.
            self._learn(arrival, arrival - min(a.arrival for a in self._held.values()))
        self._held[seq] = Arrived(packet, arrival)
        return self.due(arrival)

    def _learn(self, at: float, lateness: float) -> None:
        """Lengthen the wait after a packet ``lateness`` seconds late (at ``at``)."""
        window = self._lateness
        while window and window[-1][1] <= lateness:
            window.pop()
        window.append((at, lateness))
        while window[0][0] < at - LATENESS_WINDOW_S:
            window.popleft()
        self.wait_s = min(MAX_WAIT_S, max(self.min_wait_s, 2 * window[0][1]))

    def due(self, now: float) -> list[Arrived]:
        """The packets due at ``now``: those in sequence, and those waited for long enough."""
        window = self._lateness
        if window and window[0][0] < now - LATENESS_WINDOW_S:
            while window and window[0][0] < now - LATENESS_WINDOW_S:
                window.popleft()
            self.wait_s = max(self.min_wait_s, 2 * window[0][1]) if window else self.min_wait_s
        released = self._in_sequence()
        while self._held and (
            now - min(a.arrival for a in self._held.values()) >= self.wait_s
            or len(self._held) > MAX_HELD
        ):
            self._skip_to_oldest()
            released.extend(self._in_sequence())
        return released

    def flush(self) -> list[Arrived]:
        """Everything held, in sequence order, the missing ones given up."""
        released: list[Arrived] = []
        while self._held:
            self._skip_to_oldest()
            released.extend(self._in_sequence())
        return released

    def _in_sequence(self) -> list[Arrived]:
        released: list[Arrived] = []
        assert self._next is not None or not self._held
        while self._next is not None and self._next in self._held:
            released.append(self._held.pop(self._next))
            self._next = (self._next + 1) & 0xFFFF
        return released

    def _skip_to_oldest(self) -> None:
        """Give up the missing packets before the first one held."""
        assert self._next is not None
        base = self._next
        first = min(self._held, key=lambda seq: _seq_delta(seq, base))
        waited_since = min(a.arrival for a in self._held.values())
        for seq in range(base, base + _seq_delta(first, base)):
            self._given_up[seq & 0xFFFF] = waited_since
        while len(self._given_up) > GIVEN_UP_KEPT:
            del self._given_up[next(iter(self._given_up))]
        self.skipped += _seq_delta(first, base)
        self._next = first
