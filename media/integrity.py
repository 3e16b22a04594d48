"""Tamper evidence for recordings: a hash chain of closed segments and a signed manifest."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# The archive's file names are common.layout's; re-exported for media.integrity's importers.
from common.layout import CHAIN_FILE as CHAIN_FILE
from common.layout import MANIFEST_FILE as MANIFEST_FILE

from .errors import MediaError

logger = logging.getLogger(__name__)

CHAIN_FORMAT = "dualrec-chain/1"
BLOCK = 1 << 20
Json = dict[str, Any]
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[\w-][\w.-]*")  # a plain file name: never a path out of the folder
_RAW = (ser.Encoding.Raw, ser.PublicFormat.Raw)
_dumps = partial(json.dumps, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class IntegrityError(MediaError):
    """A chain, key or manifest could not be read or written, or was given bad data."""


def canonical_json(data: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that are hashed and signed."""
    try:
        return _dumps(data, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"not canonical JSON data: {exc}") from exc


@dataclass(frozen=True)
class ChainEntry:
    """One closed segment in the chain, with the link sealing it to its predecessors."""

    index: int
    file: str
    sha256: str
    bytes: int
    link: str

    def valid(self) -> bool:
        """Whether every field has its type and form (the file a plain name)."""
        return (
            all(type(n) is int and n >= 0 for n in (self.index, self.bytes))
            and all(isinstance(h, str) and _HEX64.fullmatch(h) for h in (self.sha256, self.link))
            and isinstance(self.file, str)
            and _NAME.fullmatch(self.file) is not None
        )

    @classmethod
    def parse(cls, data: object) -> ChainEntry:
        """An entry from JSON data; raises IntegrityError when malformed."""
        keys = {"index", "file", "sha256", "bytes", "link"}
        if not isinstance(data, dict) or set(data) != keys or not (entry := cls(**data)).valid():
            raise IntegrityError(f"not a valid chain entry: {data!r}")
        return entry


def chain_seed(session_id: str) -> str:
    """The predecessor of the first link: SHA-256 of the session id (hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def next_link(previous: str, entry: ChainEntry) -> str:
    """SHA-256 of the previous link's bytes, then the entry's canonical JSON (no link)."""
    fields = {k: v for k, v in asdict(entry).items() if k != "link"}
    return hashlib.sha256(bytes.fromhex(previous) + canonical_json(fields)).hexdigest()


class HashChain:
    """An append-only SHA-256 chain over a session's segments, in the order they closed."""

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
        """Append one closed segment; raises IntegrityError on bad or repeated input."""
        entry = ChainEntry(len(self._entries), file, sha256.lower(), bytes, self.head)
        if not entry.valid() or any(e.file == file for e in self._entries):
            raise IntegrityError(f"cannot chain {file!r} {sha256!r} {bytes!r} (bad or repeated)")
        entry = ChainEntry(entry.index, file, entry.sha256, bytes, next_link(self.head, entry))
        self._entries.append(entry)
        return entry


def _write_durably(path: Path, data: bytes, mode: int, *, replace: bool) -> bool:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # link() refuses to replace a file created meanwhile: then return False.
        os.replace(tmp, path) if replace else os.link(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)  # the new name itself must survive a crash
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except FileExistsError:
        return False
    except OSError as exc:
        raise IntegrityError(f"cannot write {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return True


@dataclass
class LoadedChain:
    """What ``ChainLog.load`` read back from ``chain.jsonl``."""

    session_id: str
    entries: list[ChainEntry]
    problems: list[str] = field(default_factory=list)


class ChainLog:
    """A HashChain written to ``chain.jsonl`` as it grows, one fsync'd line per entry."""

    def __init__(self, folder: Path, session_id: str) -> None:
        self.path = folder / CHAIN_FILE
        self.chain = HashChain(session_id)
        self._lock = threading.Lock()  # add() may be called from any thread
        header = canonical_json({"format": CHAIN_FORMAT, "session_id": session_id}) + b"\n"
        if not _write_durably(self.path, header, 0o644, replace=False):
            raise IntegrityError(f"{self.path} exists already: a chain is never restarted")
        self._file = self.path.open("ab")

    def add(self, file: str, sha256: str, bytes: int) -> ChainEntry:
        """Append one closed segment to the chain, on disk before this returns."""
        with self._lock:
            entry = self.chain.add(file, sha256, bytes)
            try:
                self._file.write(canonical_json(asdict(entry)) + b"\n")
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                raise IntegrityError(f"cannot write {self.path}: {exc}") from exc
            return entry

    def close(self) -> None:
        """Close the file; the chain stays available in memory."""
        self._file.close()

    @classmethod
    def resume(cls, folder: Path) -> ChainLog:
        """Reopen the chain a stopped server left, to append to it; a torn line is cut."""
        path = folder / CHAIN_FILE
        loaded = cls.load(path)
        log = cls.__new__(cls)
        log.path, log.chain, log._lock = path, HashChain(loaded.session_id), threading.Lock()
        for entry in loaded.entries:
            log.chain.add(entry.file, entry.sha256, entry.bytes)
        try:
            raw = path.read_bytes()
            if not raw.endswith(b"\n"):  # the entry being written when the server died
                with path.open("r+b") as f:
                    f.truncate(raw.rfind(b"\n") + 1)
            log._file = path.open("ab")
        except OSError as exc:
            raise IntegrityError(f"cannot reopen {path}: {exc}") from exc
        return log

    @staticmethod
    def load(path: Path) -> LoadedChain:
        """Read ``chain.jsonl`` back; a torn or unreadable line is reported, not raised."""
        try:
            raw = path.read_bytes()
            lines = raw.removesuffix(b"\n").split(b"\n")
            header = json.loads(lines[0])
            loaded = LoadedChain(header["session_id"], [])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise IntegrityError(f"cannot read the header of {path}: {exc!r}") from exc
        if header.get("format") != CHAIN_FORMAT or not isinstance(loaded.session_id, str):
            raise IntegrityError(f"{path}: not a {CHAIN_FORMAT} header")
        for number, line in enumerate(lines[1:], start=2):
            try:
                loaded.entries.append(ChainEntry.parse(json.loads(line)))
            except (ValueError, IntegrityError) as exc:
                if number == len(lines) and not raw.endswith(b"\n"):
                    loaded.problems.append(f"{CHAIN_FILE}: torn last line {number} ignored")
                else:
                    loaded.problems.append(f"{CHAIN_FILE}: line {number} unreadable ({exc})")
        return loaded


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (PEM PKCS8), created with mode 0600 on first call."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        if _write_durably(path, pem, 0o600, replace=False):  # else another process won
            logger.info("created signing key %s (%s)", path, key_id(key.public_key()))
    try:
        loaded = ser.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IntegrityError(f"cannot read signing key {path}: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise IntegrityError(f"{path} holds a {type(loaded).__name__}, not an Ed25519 key")
    return loaded


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public key as PEM SubjectPublicKeyInfo."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; raises IntegrityError otherwise."""
    try:
        key = ser.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IntegrityError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise IntegrityError(f"not an Ed25519 public key: {type(key).__name__}")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(public_key.public_bytes(*_RAW)).hexdigest()[:16]


def sign_manifest(manifest: Json, chain: HashChain, key: Ed25519PrivateKey) -> Json:
    """A copy of ``manifest`` with the chain embedded and an Ed25519 signature added."""
    if manifest.get("session_id") != chain.session_id:
        raise IntegrityError(f"the chain of {chain.session_id} is not this manifest's")
    body = {k: v for k, v in manifest.items() if k != "signature"}
    entries = [asdict(e) for e in chain.entries]
    body["chain"] = {"format": CHAIN_FORMAT, "entries": entries, "head": chain.head}
    signed: Json = json.loads(canonical_json(body))  # exactly the JSON that is signed
    signed["signature"] = {
        "algorithm": "Ed25519",
        "key_id": key_id(key.public_key()),
        "public_key": public_key_pem(key).decode("ascii"),
        "value": base64.b64encode(key.sign(canonical_json(signed))).decode("ascii"),
    }
    return signed


def write_signed_manifest(folder: Path, manifest: Json) -> Path:
    """Write ``folder/manifest.json`` atomically (temporary file, fsync, rename)."""
    path = folder / MANIFEST_FILE
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if not _write_durably(path, text.encode("utf-8"), 0o644, replace=True):
        raise IntegrityError(f"cannot write {path}: in the way of its temporary file")
    return path


@dataclass
class IntegrityReport:
    """What ``check_integrity`` found in a recording folder."""

    session_id: str | None = None
    signed: bool = False
    key_id: str | None = None
    problems: list[str] = field(default_factory=list)
    segments_checked: int = 0

    @property
    def ok(self) -> bool:
        """Validly (and, if asked, trustedly) signed, and nothing changed since."""
        return self.signed and not self.problems


def _strict_pairs(pairs: list[tuple[str, Any]]) -> Json:
    if len({k for k, _ in pairs}) != len(pairs):  # another reader might see another value
        raise ValueError("duplicate key in an object")
    return dict(pairs)


def _read_manifest(path: Path, report: IntegrityReport) -> Json | None:
    if not path.is_file():
        report.problems.append(f"unsigned: session not closed (no {MANIFEST_FILE})")
        return None
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"), object_pairs_hook=_strict_pairs)
        canonical_json(manifest)  # NaN and Infinity are not JSON
        if not isinstance(manifest, dict) or not isinstance(manifest.get("session_id"), str):
            raise ValueError("not an object with a session_id")
    except OSError as exc:
        raise IntegrityError(f"cannot read {path}: {exc}") from exc
    except (ValueError, IntegrityError) as exc:
        report.problems.append(f"manifest unreadable: {exc}")
        return None
    return manifest


def _check_signature(manifest: Json, key: Ed25519PublicKey | None, report: IntegrityReport) -> None:
    problem, sig = report.problems.append, manifest.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != "Ed25519":
        return problem(f"unsigned: {MANIFEST_FILE} holds no Ed25519 signature")
    body = canonical_json({k: v for k, v in manifest.items() if k != "signature"})
    try:
        embedded = load_public_key(str(sig.get("public_key")).encode("utf-8"))
        report.key_id = key_id(embedded)
        embedded.verify(base64.b64decode(str(sig.get("value")), validate=True), body)
    except (IntegrityError, ValueError) as exc:  # binascii.Error is a ValueError
        return problem(f"signature invalid: {exc}")
    except InvalidSignature:
        return problem("signature invalid: manifest changed after signing")
    if sig.get("key_id") != report.key_id:
        problem("signature invalid: key_id is not the embedded key's")
    elif key is not None and key.public_bytes(*_RAW) != embedded.public_bytes(*_RAW):
        problem(f"untrusted key: signed by {report.key_id}, not by {key_id(key)}")
    else:
        report.signed = True


def _manifest_chain(manifest: Json, report: IntegrityReport) -> list[ChainEntry]:
    problem, chain, entries = report.problems.append, manifest.get("chain"), []
    if not isinstance(chain, dict) or not isinstance(chain.get("entries"), list):
        problem(f"chain broken: {MANIFEST_FILE} holds no chain")
        return []
    for position, data in enumerate(chain["entries"]):
        try:
            entries.append(ChainEntry.parse(data))
        except IntegrityError as exc:
            problem(f"chain broken: entry {position} unreadable ({exc})")
    if chain.get("head") != (entries[-1].link if entries else chain_seed(manifest["session_id"])):
        problem("chain broken: the head is not the last link")
    return entries


def _check_files(folder: Path, entries: list[ChainEntry], report: IntegrityReport) -> set[str]:
    problem, previous, chained = report.problems.append, chain_seed(str(report.session_id)), set()
    for position, entry in enumerate(entries):
        if entry.index != position:
            problem(f"re-ordered: {entry.file} (entry {entry.index} found at {position})")
        elif next_link(previous, entry) != entry.link:
            problem(f"chain broken: entry {position} ({entry.file}) does not match its link")
        previous = entry.link
        if entry.file in chained or not (path := folder / entry.file).is_file():
            problem(f"{'duplicate' if entry.file in chained else 'missing'}: {entry.file}")
            continue
        chained.add(entry.file)
        report.segments_checked += 1
        digest = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while block := f.read(BLOCK):
                    digest.update(block)
        except OSError as exc:
            problem(f"altered: {entry.file} (unreadable: {exc})")
            continue
        if (size := path.stat().st_size) != entry.bytes:
            problem(f"altered: {entry.file} ({size} bytes, chained {entry.bytes})")
        elif digest.hexdigest() != entry.sha256:
            problem(f"altered: {entry.file} (SHA-256 differs)")
    return chained


def check_integrity(
    folder: Path, *, trusted_public_key: Ed25519PublicKey | None = None
) -> IntegrityReport:
    """Check a folder's signature, chain and files; only a trusted key proves the signer."""
    if not folder.is_dir():
        raise IntegrityError(f"no recording folder at {folder}")
    report = IntegrityReport()
    manifest = _read_manifest(folder / MANIFEST_FILE, report)
    try:
        logged = ChainLog.load(folder / CHAIN_FILE) if (folder / CHAIN_FILE).is_file() else None
    except IntegrityError as exc:
        logged = None
        report.problems.append(f"{CHAIN_FILE} unreadable: {exc}")
    report.problems += logged.problems if logged else []
    if manifest is not None:
        session_id: str = manifest["session_id"]
        _check_signature(manifest, trusted_public_key, report)
        entries = _manifest_chain(manifest, report)
        if logged is not None and (logged.session_id, logged.entries) != (session_id, entries):
            pairs = enumerate(zip(logged.entries, entries, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), min(len(entries), len(logged.entries)))
            report.problems.append(f"{CHAIN_FILE} disagrees with the manifest from entry {at}")
    elif logged is not None:
        session_id, entries = logged.session_id, logged.entries
    else:
        report.problems.append(f"no chain: neither a readable {MANIFEST_FILE} nor {CHAIN_FILE}")
        return report
    report.session_id = session_id
    chained = _check_files(folder, entries, report)
    note = "" if manifest else " (not chained: open when the recording stopped?)"
    for path in sorted(folder.glob("*.webm")):
        if path.name not in chained:
            report.problems.append(f"added: {path.name}{note}")
    return report
