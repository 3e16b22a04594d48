"""Tamper evidence for recordings: a hash chain of closed segments and a signed manifest.

Each closed segment enters a SHA-256 chain in the order it was closed, persisted to
``chain.jsonl`` as it grows (so a crash keeps the chain of what was closed). At hang-up
the chain goes into ``manifest.json``, which is signed with the server's Ed25519 key.
``check_integrity`` names what was added, removed, altered or re-ordered afterwards.
The embedded public key only proves that nothing changed since *someone* signed; pass
the bank's trusted key to prove who signed. All of this is blocking file I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import MediaError

logger = logging.getLogger(__name__)

CHAIN_FORMAT = "dualrec-chain/1"
CHAIN_FILE = "chain.jsonl"
MANIFEST_FILE = "manifest.json"
BLOCK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class IntegrityError(MediaError):
    """A chain, key or manifest could not be read, or was given invalid data."""


def canonical_json(data: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that are hashed and signed."""
    try:
        text = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"not canonical JSON data: {exc}") from exc
    return text.encode("utf-8")


def _plain_name(file: object) -> bool:
    return isinstance(file, str) and file not in ("", ".", "..") and "/" not in file + "\\"


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class ChainEntry:
    """One closed segment in the chain, with the link that seals it to its predecessors."""

    index: int
    file: str
    sha256: str
    bytes: int
    link: str

    def payload(self) -> bytes:
        """The canonical JSON of the fields the link covers."""
        return canonical_json(
            {"index": self.index, "file": self.file, "sha256": self.sha256, "bytes": self.bytes}
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        return {
            "index": self.index,
            "file": self.file,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "link": self.link,
        }

    @classmethod
    def parse(cls, data: object) -> Self:
        """An entry from JSON data; raises IntegrityError when malformed."""
        if not isinstance(data, dict):
            raise IntegrityError(f"chain entry is not an object: {data!r}")
        index, file, sha, size, link = (
            data.get(k) for k in ("index", "file", "sha256", "bytes", "link")
        )
        if not (_count(index) and _count(size) and _plain_name(file)):
            raise IntegrityError(f"chain entry has a bad index, file or bytes: {data!r}")
        if not (isinstance(sha, str) and _HEX64.match(sha)):
            raise IntegrityError(f"chain entry has a bad sha256: {data!r}")
        if not (isinstance(link, str) and _HEX64.match(link)):
            raise IntegrityError(f"chain entry has a bad link: {data!r}")
        assert isinstance(index, int) and isinstance(size, int) and isinstance(file, str)
        return cls(index, file, sha, size, link)


def chain_seed(session_id: str) -> str:
    """The predecessor of the first link: SHA-256 of the session id (hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def next_link(previous: str, entry: ChainEntry) -> str:
    """SHA-256 of the previous link's bytes followed by the entry's canonical JSON."""
    return hashlib.sha256(bytes.fromhex(previous) + entry.payload()).hexdigest()


class HashChain:
    """An append-only SHA-256 chain over a session's closed segments."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._entries: list[ChainEntry] = []

    @property
    def entries(self) -> tuple[ChainEntry, ...]:
        """The entries in the order the segments were closed."""
        return tuple(self._entries)

    @property
    def head(self) -> str:
        """The last link (the seed while the chain is empty), hex."""
        return self._entries[-1].link if self._entries else chain_seed(self.session_id)

    def add(self, file: str, sha256: str, bytes: int) -> ChainEntry:
        """Append one closed segment; raises IntegrityError on invalid or repeated input."""
        sha256 = sha256.lower()
        if not _plain_name(file) or not _HEX64.match(sha256) or not _count(bytes):
            raise IntegrityError(f"invalid segment for the chain: {file!r} {sha256!r} {bytes!r}")
        if any(e.file == file for e in self._entries):
            raise IntegrityError(f"{file} is already in the chain of {self.session_id}")
        entry = ChainEntry(len(self._entries), file, sha256, bytes, "")
        entry = ChainEntry(entry.index, file, sha256, bytes, next_link(self.head, entry))
        self._entries.append(entry)
        return entry

    def to_dict(self) -> dict[str, Any]:
        """The chain as it is embedded in the manifest."""
        return {
            "format": CHAIN_FORMAT,
            "entries": [e.to_dict() for e in self._entries],
            "head": self.head,
        }


@dataclass
class LoadedChain:
    """What ``ChainLog.load`` read back from ``chain.jsonl``."""

    session_id: str
    entries: list[ChainEntry]
    problems: list[str] = field(default_factory=list)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ChainLog:
    """A HashChain persisted to ``chain.jsonl`` line by line (fsync'd), safe across threads."""

    def __init__(self, folder: Path, session_id: str) -> None:
        """Create ``folder/chain.jsonl``; raises IntegrityError if it exists already."""
        self.path = folder / CHAIN_FILE
        self.chain = HashChain(session_id)
        self._lock = threading.Lock()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("x", encoding="utf-8")
        except OSError as exc:
            raise IntegrityError(f"cannot create {self.path}: {exc}") from exc
        self._write({"format": CHAIN_FORMAT, "session_id": session_id})
        _fsync_dir(folder)

    def _write(self, line: dict[str, Any]) -> None:
        try:
            self._file.write(canonical_json(line).decode("utf-8") + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise IntegrityError(f"cannot write {self.path}: {exc}") from exc

    def add(self, file: str, sha256: str, bytes: int) -> ChainEntry:
        """Append one closed segment to the chain and to disk before returning."""
        with self._lock:
            entry = self.chain.add(file, sha256, bytes)
            self._write(entry.to_dict())
            return entry

    def close(self) -> None:
        """Close the file (the chain stays readable in memory)."""
        with self._lock:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @staticmethod
    def load(path: Path) -> LoadedChain:
        """Read ``chain.jsonl`` back; a torn last line is reported, not raised."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise IntegrityError(f"cannot read {path}: {exc}") from exc
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        try:
            header = json.loads(lines[0]) if lines else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or not isinstance(header.get("session_id"), str):
            raise IntegrityError(f"{path.name}: no header line naming the session")
        if header.get("format") != CHAIN_FORMAT:
            raise IntegrityError(f"{path.name}: unknown format {header.get('format')!r}")
        loaded = LoadedChain(header["session_id"], [])
        for number, line in enumerate(lines[1:], start=2):
            try:
                loaded.entries.append(ChainEntry.parse(json.loads(line)))
            except (ValueError, IntegrityError) as exc:
                if number == len(lines) and not raw.endswith(b"\n"):
                    loaded.problems.append(f"{path.name}: torn last line {number} ignored")
                    logger.warning("%s: torn last line %d ignored", path, number)
                else:
                    loaded.problems.append(f"{path.name}: line {number} unreadable ({exc})")
        return loaded


# -- keys ---------------------------------------------------------------------------


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (PEM PKCS8), created with mode 0600 on first call."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
            # link() refuses to replace a key another process created meanwhile.
            os.link(tmp, path)
            _fsync_dir(path.parent)
            logger.info("created signing key %s (%s)", path, key_id(key.public_key()))
        except FileExistsError:
            pass
        except OSError as exc:
            raise IntegrityError(f"cannot create signing key {path}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise IntegrityError(f"cannot read signing key {path}: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise IntegrityError(f"{path} holds a {type(loaded).__name__}, not an Ed25519 key")
    if path.stat().st_mode & 0o077:
        logger.warning("signing key %s is readable by others than its owner", path)
    return loaded


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public key as PEM SubjectPublicKeyInfo."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; raises IntegrityError otherwise."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise IntegrityError(f"not an Ed25519 public key: {type(key).__name__}")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- manifest -----------------------------------------------------------------------


def sign_manifest(
    manifest: dict[str, Any], chain: HashChain, key: Ed25519PrivateKey
) -> dict[str, Any]:
    """A copy of ``manifest`` with the chain embedded and an Ed25519 signature added."""
    if manifest.get("session_id") != chain.session_id:
        raise IntegrityError(
            f"chain of {chain.session_id} cannot sign the manifest of "
            f"{manifest.get('session_id')!r}"
        )
    body = {k: v for k, v in manifest.items() if k != "signature"}
    body["chain"] = chain.to_dict()
    # Round trip: the dict returned is exactly the JSON that was signed.
    signed: dict[str, Any] = json.loads(canonical_json(body))
    signed["signature"] = {
        "algorithm": "Ed25519",
        "key_id": key_id(key.public_key()),
        "public_key": public_key_pem(key).decode("ascii"),
        "value": base64.b64encode(key.sign(canonical_json(signed))).decode("ascii"),
    }
    return signed


def write_signed_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write ``folder/manifest.json`` atomically (temporary file, fsync, rename)."""
    path = folder / MANIFEST_FILE
    tmp = folder / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(folder)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise IntegrityError(f"cannot write {path}: {exc}") from exc
    return path
