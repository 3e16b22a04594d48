"""How many frames the relays of one server took, forwarded, recorded and dropped.

Plain integers, bumped on the media path (50-100 times a second per track) where each
thing happens: no lock, no label lookup, nothing that grows with the calls. One
``FrameCounts`` is shared by every relay and recorder a server makes; whoever reports
(the metrics endpoint) reads the totals when asked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: The media kinds the relay carries.
KINDS = ("audio", "video")


class DropReason:
    """Why a frame was neither forwarded nor recorded (the ``reason`` of a drop)."""

    #: The receiving party fell behind: the oldest frame waiting to be sent went.
    FORWARD_QUEUE = "forward_queue"
    #: A damaged video frame, or one depending on it, left out until the next keyframe.
    DAMAGED = "damaged"
    #: Video before a track's first keyframe (its segment cannot start without one).
    BEFORE_KEYFRAME = "before_keyframe"
    #: Placed before the recording's start on the timeline.
    BEFORE_START = "before_start"
    #: A microphone frame replaced by a spoken announcement (the announcement is kept).
    ANNOUNCEMENT = "announcement"
    #: An audio packet that came after the later ones had stopped waiting for it
    #: (media.reorder): given up as lost by then.
    TOO_LATE = "too_late"


def _by_kind() -> dict[str, int]:
    return dict.fromkeys(KINDS, 0)


@dataclass
class FrameCounts:
    """Frames per media kind since the server started (monotonic totals)."""

    #: Whole frames taken from a party (before forwarding or recording).
    received: dict[str, int] = field(default_factory=_by_kind)
    #: Frames sent on to the other party.
    forwarded: dict[str, int] = field(default_factory=_by_kind)
    #: Frames handed to the recorder's writer for a segment.
    recorded: dict[str, int] = field(default_factory=_by_kind)
    #: Frames left out, by (kind, reason): see ``DropReason``.
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)

    def drop(self, kind: str, reason: str) -> None:
        """One ``kind`` frame was dropped for ``reason``."""
        self.dropped[kind, reason] += 1
