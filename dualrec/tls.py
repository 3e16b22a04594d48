"""HTTPS for ``dualrec serve``: the server's TLS context from ``tls_cert`` and ``tls_key``.

Browsers give a page the camera and microphone only on https (or localhost), so a kiosk in
a branch reaches the server over TLS: either this (the node serves HTTPS itself) or a
reverse proxy that terminates TLS in front of plain-HTTP nodes (``dualrec.proxies``).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from .settings import Settings, SettingsError


def server_tls(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 or newer), or None for plain HTTP.

    Raises ``SettingsError`` saying which file is missing, unreadable or not a matching
    certificate and key, before the server listens.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    for what, path in (("certificate", settings.tls_cert), ("key", settings.tls_key)):
        _readable(what, path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key, password=_no_password)
    except ssl.SSLError as exc:
        raise SettingsError(
            f"the TLS certificate {settings.tls_cert} and key {settings.tls_key} cannot be "
            f"used together (not PEM, encrypted, or not a pair): {exc.reason or exc}"
        ) from exc
    return context


def _no_password() -> bytes:
    # Without a callback OpenSSL would ask for a passphrase on the terminal and hang a start.
    raise SettingsError("the TLS key file is encrypted: give the server an unencrypted key")


def _readable(what: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise SettingsError(f"the TLS {what} file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"the TLS {what} file {path} cannot be read: {exc.strerror}") from None
