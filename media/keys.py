"""The server's Ed25519 signing key: created once, read back, and named by its fingerprint."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .durable import write_durably
from .errors import IntegrityError

logger = logging.getLogger(__name__)


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (PEM PKCS8), created with mode 0600 on first call."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        if write_durably(path, pem, 0o600, replace=False):  # else another process won
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
    raw = public_key.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
