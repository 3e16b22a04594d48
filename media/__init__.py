"""The media relay and the double-recording (aiortc, PyAV)."""

from .chain import ChainLog, HashChain
from .errors import IntegrityError, MediaError, NegotiationError, RecordingError
from .forward import ForwardTrack
from .integrity import IntegrityReport, check_integrity
from .keys import key_id, load_or_create_signing_key, load_public_key, public_key_pem
from .manifest import sign_manifest, write_signed_manifest
from .recorder import SegmentInfo, SessionRecorder, segment_name
from .relay import PartyLink, SessionRelay, other_party
from .still import Still
from .tap import EncodedFrame, ReceiverTap
from .timeline import PartyClock, PlacedFrame, TrackClock

__all__ = [
    "ChainLog",
    "EncodedFrame",
    "ForwardTrack",
    "HashChain",
    "IntegrityError",
    "IntegrityReport",
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
    "Still",
    "TrackClock",
    "check_integrity",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key",
    "other_party",
    "public_key_pem",
    "segment_name",
    "sign_manifest",
    "write_signed_manifest",
]
