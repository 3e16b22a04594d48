"""What the console pages are given: the typed app keys the application fills.

The pages read their dependencies from these keys and nothing else; ``dualrec.app``
sets them when the server starts.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from signaling.overview import LiveCalls
from storage import Database

from .recordings import RecordingCache

#: The audit database: sessions, evidence, reviews, credentials and the access log.
DATABASE = web.AppKey("database", Database)
#: What the consoles may see of the calls under way.
LIVE_CALLS: web.AppKey[LiveCalls] = web.AppKey("live_calls")
#: The local recordings folder (evidence files of calls in progress are read from it).
RECORDINGS_DIR = web.AppKey("recordings_dir", Path)
#: The time zone pages show times in (an IANA name).
TIMEZONE = web.AppKey("timezone", str)
#: Recording parts as local files, fetched from the recordings store when needed.
AUDIT_CACHE = web.AppKey("audit_cache", RecordingCache)
#: The key a recording's manifest must be signed by: the server's own.
TRUSTED_KEY = web.AppKey("audit_trusted_key", Ed25519PublicKey)
