"""Checking a recording folder: its manifest's signature, its hash chain and its files."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common import CHAIN_FILE, MANIFEST_FILE, sha256_file

from .chain import ChainEntry, ChainLog, canonical_json, chain_seed, next_link
from .errors import IntegrityError
from .keys import key_id, load_public_key, public_key_pem
from .manifest import Json


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
    elif key is not None and public_key_pem(key) != public_key_pem(embedded):
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
        try:
            digest = sha256_file(path)
        except OSError as exc:
            problem(f"altered: {entry.file} (unreadable: {exc})")
            continue
        if (size := path.stat().st_size) != entry.bytes:
            problem(f"altered: {entry.file} ({size} bytes, chained {entry.bytes})")
        elif digest != entry.sha256:
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
