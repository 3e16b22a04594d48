"""The Ed25519 signing key and manifest signing: created once, private, refused when bad."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from media import (
    HashChain,
    IntegrityError,
    key_id,
    load_or_create_signing_key,
    load_public_key,
    public_key_pem,
    sign_manifest,
)
from tests.media.signed_recording import (
    SESSION,
    base_manifest,
)


def test_signing_key_created_once_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "deep" / "signing.pem"
    key = load_or_create_signing_key(path)
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_signing_key(path)
    assert path.read_bytes() == pem
    assert public_key_pem(again) == public_key_pem(key) == public_key_pem(key.public_key())
    assert load_public_key(public_key_pem(key)).public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )
    assert len(key_id(key.public_key())) == 16
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]


def test_bad_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n")
    with pytest.raises(IntegrityError):
        load_or_create_signing_key(path)
    with pytest.raises(IntegrityError):
        load_public_key(b"garbage")


def test_sign_manifest_leaves_its_input_alone(tmp_path: Path) -> None:
    chain = HashChain(SESSION)
    manifest = base_manifest(chain)
    before = json.dumps(manifest)
    signed = sign_manifest(manifest, chain, Ed25519PrivateKey.generate())
    assert json.dumps(manifest) == before and "signature" in signed
    with pytest.raises(IntegrityError):
        sign_manifest(manifest, HashChain("another-session"), Ed25519PrivateKey.generate())
