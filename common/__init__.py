"""The leaf every dualrec package may import: its words, where recordings live, file digests,
and free text made safe to keep (``redact``).

Nothing here imports another dualrec package, aiohttp, aiortc, PyAV or SQLAlchemy.
"""

from .colour import rgb_to_yuv
from .hashing import sha256_file
from .layout import CHAIN_FILE, MANIFEST_FILE, PART_PREFIX, RecordingLayout
from .redact import MAX_REASON_CHARS, ReasonTooLong, checked_reason, redact
from .tasks import BackgroundTasks
from .vocabulary import (
    TTS_PLAYED,
    EvidenceKind,
    Language,
    MediaKind,
    Party,
    Presence,
    Role,
    browser_vocabulary,
)

__all__ = [
    "CHAIN_FILE",
    "MANIFEST_FILE",
    "MAX_REASON_CHARS",
    "PART_PREFIX",
    "TTS_PLAYED",
    "BackgroundTasks",
    "EvidenceKind",
    "Language",
    "MediaKind",
    "Party",
    "Presence",
    "ReasonTooLong",
    "RecordingLayout",
    "Role",
    "browser_vocabulary",
    "checked_reason",
    "redact",
    "rgb_to_yuv",
    "sha256_file",
]
