"""The leaf every dualrec package may import: its words, where recordings live, file digests.

Nothing here imports another dualrec package, aiohttp, aiortc, PyAV or SQLAlchemy.
"""

from .colour import rgb_to_yuv
from .hashing import sha256_file
from .layout import CHAIN_FILE, MANIFEST_FILE, PART_PREFIX, RecordingLayout
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
    "PART_PREFIX",
    "TTS_PLAYED",
    "BackgroundTasks",
    "EvidenceKind",
    "Language",
    "MediaKind",
    "Party",
    "Presence",
    "RecordingLayout",
    "Role",
    "browser_vocabulary",
    "rgb_to_yuv",
    "sha256_file",
]
