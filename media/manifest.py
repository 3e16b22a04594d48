"""The signed manifest of a recording part: the session's facts, the chain, a signature."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import MANIFEST_FILE

from .chain import CHAIN_FORMAT, HashChain, canonical_json
from .durable import write_durably
from .errors import IntegrityError
from .keys import key_id, public_key_pem

Json = dict[str, Any]


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
    if not write_durably(path, text.encode("utf-8"), 0o644, replace=True):
        raise IntegrityError(f"cannot write {path}: in the way of its temporary file")
    return path
