"""Personal data at rest: the one place ID numbers are sealed, opened and made searchable.

Every workflow context and event the database keeps holds the customer's ID number only
sealed (AES-256-GCM), as ``{"sealed": "<key id>:<base64 nonce + ciphertext>", "last4":
"123X"}``. Exact customer search goes through a keyed HMAC-SHA-256 of the number, and the
key of both lives in a file of the data folder (mode 0600, made on first start), never in
the database: a copy of the database alone gives neither the numbers nor a way to test
guesses against the search column (an unkeyed SHA-256 of an 18-character ID with a known
last four falls to brute force in seconds).

Views handed to pages carry the number masked (``**************123X``, as pages showed it
before); only :meth:`PersonalData.open_context` gives it back, for a resumed call.

The unified social credit code of a company is not sealed: it identifies a company, not a
person, and is printed on its business licence and published in the national register.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from common import ReasonTooLong, checked_reason

from .errors import StorageError

logger = logging.getLogger(__name__)

#: Context keys whose values are personal and kept only sealed.
SEALED_KEYS: Final = frozenset({"id_number"})
_KEY_BYTES = 32
_NONCE_BYTES = 12
_FILE_HEADER = "dualrec-personal-data-key-v1"


def normalise_id_number(number: str) -> str:
    """The ID number as it is matched: NFKC (full-width digits), trimmed, upper case."""
    return unicodedata.normalize("NFKC", number).strip().upper()


def mask_last4(last4: str | None, length: int = 18) -> str:
    """Stars then the last four characters (``**************1234``); "—" when unknown."""
    if not last4:
        return "—"
    return "*" * max(length - len(last4), 0) + last4


def is_sealed(value: object) -> bool:
    """Whether ``value`` is a sealed personal value as stored."""
    return isinstance(value, Mapping) and set(value) == {"sealed", "last4"}


def masked_context(value: Any) -> Any:
    """``value`` (a context, an event's data) with every personal value masked; no key needed."""
    if is_sealed(value):
        return mask_last4(str(value["last4"]))
    if isinstance(value, Mapping):
        return {
            k: mask_last4(normalise_id_number(v)[-4:])
            if k in SEALED_KEYS and isinstance(v, str)
            else masked_context(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [masked_context(v) for v in value]
    return value


def stored_reason(name: str, text: str) -> str:
    """A free-text reason as the database keeps it: bounded (StorageError), ID numbers masked."""
    try:
        return checked_reason(name, text)
    except ReasonTooLong as exc:
        raise StorageError(str(exc)) from exc


class PersonalData:
    """Seals and opens ID numbers in contexts and computes their search tokens."""

    def __init__(self, key: bytes) -> None:
        """Derive the sealing and the search keys from the 32-byte ``key``."""
        if len(key) != _KEY_BYTES:
            raise StorageError(f"the personal-data key must be {_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(_derive(key, b"dualrec personal data: AES-256-GCM"))
        self._search_key = _derive(key, b"dualrec personal data: search HMAC")
        self.key_id = hashlib.sha256(_derive(key, b"dualrec personal data: key id")).hexdigest()[:8]

    @classmethod
    def ephemeral(cls) -> Self:
        """A key that lives as long as the process: for tools and tests that never reopen."""
        return cls(secrets.token_bytes(_KEY_BYTES))

    @classmethod
    def load_or_create(cls, path: Path) -> Self:
        """The key in ``path``, made (mode 0600, folder 0700) on the first call (blocking)."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made by an earlier start, or by another process just now
        else:
            encoded = base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(f"{_FILE_HEADER} {encoded}\n")
                out.flush()
                os.fsync(out.fileno())
            logger.info("created personal-data key %s", path)
        if path.stat().st_mode & 0o077:
            logger.warning("personal-data key %s was readable by others: now 0600", path)
            os.chmod(path, 0o600)
        try:
            header, encoded = path.read_text("ascii").split()
            key = base64.b64decode(encoded, validate=True)
        except (OSError, UnicodeError, ValueError) as exc:
            raise StorageError(f"cannot read the personal-data key {path}: {exc}") from exc
        if header != _FILE_HEADER:
            raise StorageError(f"{path} is not a dualrec personal-data key")
        return cls(key)

    def search_token(self, id_number: str) -> str:
        """Hex HMAC-SHA-256 of the normalised ID number: what an exact search matches."""
        normal = normalise_id_number(id_number).encode("utf-8")
        return hmac.new(self._search_key, normal, hashlib.sha256).hexdigest()

    def seal_context(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``context`` with every personal value sealed (sealed ones kept)."""
        sealed = self._seal(context)
        assert isinstance(sealed, dict)
        return sealed

    def open_context(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a stored context with every sealed value opened (StorageError if wrong)."""
        opened = self._open(context)
        assert isinstance(opened, dict)
        return opened

    def _seal(self, value: Any, key: str = "") -> Any:
        if isinstance(value, str) and key in SEALED_KEYS:
            nonce = secrets.token_bytes(_NONCE_BYTES)
            body = self._aead.encrypt(nonce, value.encode("utf-8"), _aad(key))
            token = base64.b64encode(nonce + body).decode("ascii")
            return {"sealed": f"{self.key_id}:{token}", "last4": normalise_id_number(value)[-4:]}
        if is_sealed(value):
            return dict(value)
        if isinstance(value, Mapping):
            return {k: self._seal(v, k) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._seal(v) for v in value]
        return value

    def _open(self, value: Any, key: str = "") -> Any:
        if is_sealed(value):
            key_id, _, token = str(value["sealed"]).partition(":")
            if key_id != self.key_id:
                raise StorageError(
                    f'"{key}" was sealed with key {key_id}, and this server has key {self.key_id}'
                )
            try:
                raw = base64.b64decode(token, validate=True)
                clear = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(key))
            except (ValueError, InvalidTag) as exc:
                raise StorageError(f'the sealed "{key}" is damaged or was moved') from exc
            return clear.decode("utf-8")
        if isinstance(value, Mapping):
            return {k: self._open(v, k) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._open(v) for v in value]
        return value


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=info).derive(key)


def _aad(key: str) -> bytes:
    # Bound to the field's name: a sealed value cannot be moved to another field unnoticed.
    return f"dualrec:{key}".encode()
