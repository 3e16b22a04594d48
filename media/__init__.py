"""The media relay and the double-recording (aiortc, PyAV)."""

from .errors import MediaError, NegotiationError, RecordingError
from .recorder import SegmentInfo, SessionRecorder, segment_name, sha256_file
from .relay import PARTIES, ForwardTrack, PartyLink, SessionRelay, other_party
from .tap import EncodedFrame, ReceiverTap
from .timeline import PartyClock, PlacedFrame, TrackClock

__all__ = [
    "PARTIES",
    "EncodedFrame",
    "ForwardTrack",
    "MediaError",
    "NegotiationError",
    "PartyClock",
    "PartyLink",
    "PlacedFrame",
    "ReceiverTap",
    "RecordingError",
    "SegmentInfo",
    "SessionRecorder",
    "SessionRelay",
    "TrackClock",
    "other_party",
    "segment_name",
    "sha256_file",
]
