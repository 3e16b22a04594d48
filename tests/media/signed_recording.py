"""A closed session's folder for the tamper tests: real files, a chain, a signed manifest."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import MANIFEST_FILE
from media import (
    ChainLog,
    HashChain,
    load_or_create_signing_key,
    sign_manifest,
    write_signed_manifest,
)

SESSION = "4cf81fa934cc4409a3f374e0a44bf5cc"
#: Closing order interleaves the four tracks, as in a real call; one file spans two blocks.
SEGMENTS = [
    ("kiosk-video-0000.webm", 1_500_000),
    ("kiosk-audio-0000.webm", 4_000),
    ("agent-video-0000.webm", 9_000),
    ("agent-audio-0000.webm", 3_000),
    ("kiosk-video-0001.webm", 7_000),
]
FLIPPED = "kiosk-video-0001.webm"


@dataclass
class Recording:
    """A closed session's folder: segments, chain.jsonl and a signed manifest.json."""

    folder: Path
    key: Ed25519PrivateKey
    key_path: Path

    def manifest(self) -> dict[str, Any]:
        """The manifest as stored."""
        data: dict[str, Any] = json.loads((self.folder / MANIFEST_FILE).read_text("utf-8"))
        return data

    def store(self, manifest: dict[str, Any]) -> None:
        """Overwrite manifest.json as an editor would (no re-signing)."""
        (self.folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), "utf-8")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def flip(path: Path, offset: int) -> None:
    """Invert one byte of a file in place."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def base_manifest(chain: HashChain) -> dict[str, Any]:
    """A manifest laid out as storage.manifest.session_manifest writes it."""
    return {
        "session_id": SESSION,
        "service": "card_opening",
        "flow": "card_opening",
        "branch": "上海分行 Pudong",
        "kiosk": "kiosk-1",
        "agent": "agent-7",
        "status": "ended",
        "started_at": "2024-05-01T09:00:00+00:00",
        "ended_at": "2024-05-01T09:05:00+00:00",
        "end_reason": "completed",
        "segments": [
            {
                "party": e.file.split("-")[0],
                "kind": e.file.split("-")[1],
                "seq": int(e.file[-9:-5]),
                "file": e.file,
                "codec": "vp8",
                "bytes": e.bytes,
                "sha256": e.sha256,
                "frames": 30,
                "start_ms": 0,
                "end_ms": 10_000,
            }
            for e in chain.entries
        ],
        "workflow": [{"seq": 1, "event": "consent_given", "from": "consent", "to": "terms"}],
    }


def make_recording(tmp_path: Path) -> Recording:
    """Real files, a chain logged as they close, a manifest signed with a real key."""
    folder = tmp_path / "recordings" / SESSION
    rng = random.Random(7)
    log = ChainLog(folder, SESSION)
    for name, size in SEGMENTS:
        data = rng.randbytes(size)
        (folder / name).write_bytes(data)
        log.add(name, sha256(data), size)
    log.close()
    key_path = tmp_path / "keys" / "signing.pem"
    key = load_or_create_signing_key(key_path)
    write_signed_manifest(folder, sign_manifest(base_manifest(log.chain), log.chain, key))
    return Recording(folder, key, key_path)
