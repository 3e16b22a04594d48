"""The one place where configuration is read: command line and environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(ValueError):
    """A setting that makes no sense (an unknown time zone, say)."""


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, built once at the entry point."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    #: SQLAlchemy URL; ``None`` means the embedded SQLite file under ``data_dir``.
    database_url: str | None = None
    #: Length of a recording segment, in seconds.
    segment_s: float = 10.0
    log_level: str = "INFO"
    #: How log lines are written: ``text`` (for people) or ``json`` (one object a line).
    log_format: str = "text"
    #: The bearer token a Prometheus scraper sends to ``/metrics`` (signed-in admins need
    #: none); never shown in a repr. None: only admins may read the metrics.
    metrics_token: str | None = field(default=None, repr=False)
    timezone: str = "Asia/Shanghai"
    #: How fast announcements are spoken (espeak-ng words per minute; 175 is natural).
    tts_speed_wpm: int = 175
    #: STUN and TURN servers given to every page, client and the relay (stun:/turn: URLs);
    #: none configured means none used, never a public default (see signaling.ice).
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    #: The secret shared with the TURN servers (coturn's static-auth-secret); never shown.
    turn_secret: str | None = field(default=None, repr=False)
    #: How long the TURN credentials given at each join are valid (seconds).
    turn_ttl_s: int = 3600
    #: ``relay``: pages and clients send their media through the TURN servers only.
    ice_transport_policy: str = "all"
    #: S3-compatible object storage (Object Lock) for the recordings; None keeps them local.
    #: Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID...), never from here.
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_prefix: str = "recordings/"
    #: Server-side encryption: ``AES256`` or ``aws:kms`` (with ``s3_kms_key_id``).
    s3_sse: str = "AES256"
    s3_kms_key_id: str | None = None
    #: Keep the local copy after the upload is confirmed (default: delete it).
    s3_keep_local: bool = False
    #: The longest wait between two tries of an upload that keeps failing (seconds).
    s3_retry_max_s: float = 60.0
    #: How long a database operation keeps trying through a lost or refused connection
    #: before it fails (seconds; see storage.retry). 0 tries once.
    database_retry_s: float = 20.0
    #: The retention policy file; None is the packaged ``storage/retention.toml``.
    retention_policy: Path | None = None
    #: Redis shared by several nodes (queue, presence, calls' whereabouts); None runs as
    #: one process with everything in memory (the embedded default).
    redis_url: str | None = None
    #: This node's name among several (default: host name and port).
    node_id: str | None = None
    #: How long a draining node (SIGTERM) lets its live calls run before it interrupts
    #: them so that they resume on another node (seconds).
    drain_grace_s: float = 30.0
    #: HTTPS: the certificate chain and its private key (PEM files), both or neither;
    #: None serves plain HTTP (behind a TLS-terminating proxy, say). See dualrec/tls.py.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: The reverse proxies (addresses or networks) whose X-Forwarded-For/-Proto/-Host are
    #: believed; empty: nobody's (see dualrec/proxies.py).
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"unknown time zone {self.timezone!r}") from exc
        _check_ice(self)
        if self.s3_endpoint is not None and "@" in urlsplit(self.s3_endpoint).netloc:
            # Credentials in the URL would end up in reprs and logs.
            raise SettingsError("the S3 endpoint must not hold credentials; use AWS_* variables")
        if not 0 <= self.database_retry_s < float("inf"):
            raise SettingsError(f"database_retry_s must be >= 0, got {self.database_retry_s}")
        if self.s3_retry_max_s <= 0:
            raise SettingsError(f"s3_retry_max_s must be positive, got {self.s3_retry_max_s}")
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"log_format must be text or json, got {self.log_format!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("HTTPS needs both tls_cert and tls_key (--tls-cert, --tls-key)")
        for proxy in self.trusted_proxies:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(
                    f"trusted proxy {proxy!r} is not an IP address or network (10.1.0.10, "
                    "10.1.0.0/24)"
                ) from None

    @property
    def recordings_dir(self) -> Path:
        """Where the recordings are kept."""
        return self.data_dir / "recordings"

    @property
    def signing_key_path(self) -> Path:
        """The server's Ed25519 key that signs every recording's manifest."""
        return self.data_dir / "keys" / "recording-signing-key.pem"

    @property
    def personal_key_path(self) -> Path:
        """The key that seals ID numbers in the database and keys their search (never in it)."""
        return self.data_dir / "keys" / "personal-data.key"

    def check_cluster(self) -> None:
        """Refuse several nodes on the embedded SQLite file (it belongs to one process)."""
        if self.redis_url is not None and self.database.startswith("sqlite"):
            raise SettingsError(
                "several nodes (--redis-url) share one PostgreSQL database: give "
                "--database-url postgresql://...; the embedded SQLite file belongs to one process"
            )

    @property
    def node_name(self) -> str:
        """This node's name: ``node_id``, or the host name and port."""
        return self.node_id or f"{socket.gethostname()}:{self.port}"

    @property
    def database(self) -> str:
        """The database URL in force."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dualrec.db').resolve()}"

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed (dropping ``None`` values)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``DUALREC_*`` environment variables."""
        env = os.environ if environ is None else environ
        settings = cls()
        if "DUALREC_DATA_DIR" in env:
            settings = replace(settings, data_dir=Path(env["DUALREC_DATA_DIR"]))
        if "DUALREC_DATABASE_URL" in env:
            settings = replace(settings, database_url=env["DUALREC_DATABASE_URL"])
        if "DUALREC_LOG_LEVEL" in env:
            settings = replace(settings, log_level=env["DUALREC_LOG_LEVEL"])
        if "DUALREC_LOG_FORMAT" in env:
            settings = replace(settings, log_format=env["DUALREC_LOG_FORMAT"])
        settings = replace(settings, **_ice_environment(env))
        if env.get("DUALREC_METRICS_TOKEN", "").strip():
            settings = replace(settings, metrics_token=env["DUALREC_METRICS_TOKEN"].strip())
        if "DUALREC_REDIS_URL" in env:
            settings = replace(settings, redis_url=env["DUALREC_REDIS_URL"])
        if "DUALREC_NODE_ID" in env:
            settings = replace(settings, node_id=env["DUALREC_NODE_ID"])
        cert, key = (env.get(name, "").strip() for name in ("DUALREC_TLS_CERT", "DUALREC_TLS_KEY"))
        if cert or key:  # both at once: one alone is refused
            tls_cert, tls_key = (Path(path) if path else None for path in (cert, key))
            settings = replace(settings, tls_cert=tls_cert, tls_key=tls_key)
        if "DUALREC_TRUSTED_PROXIES" in env:
            proxies = (p.strip() for p in env["DUALREC_TRUSTED_PROXIES"].split(","))
            settings = replace(settings, trusted_proxies=tuple(p for p in proxies if p))
        if "DUALREC_TIMEZONE" in env:
            settings = replace(settings, timezone=env["DUALREC_TIMEZONE"])
        if "DUALREC_DATABASE_RETRY_S" in env:
            retry_s = env["DUALREC_DATABASE_RETRY_S"]
            try:
                seconds = float(retry_s)
            except ValueError:
                raise SettingsError(
                    f"DUALREC_DATABASE_RETRY_S is not a number: {retry_s!r}"
                ) from None
            settings = replace(settings, database_retry_s=seconds)
        s3: dict[str, Any] = {
            field: env[name] for field, name in _S3_ENVIRONMENT.items() if env.get(name, "").strip()
        }
        if "s3_keep_local" in s3:
            s3["s3_keep_local"] = _flag(s3["s3_keep_local"], _S3_ENVIRONMENT["s3_keep_local"])
        if "s3_retry_max_s" in s3:
            try:
                s3["s3_retry_max_s"] = float(s3["s3_retry_max_s"])
            except ValueError:
                raise SettingsError("DUALREC_S3_RETRY_MAX_S must be a number of seconds") from None
        if "DUALREC_RETENTION_POLICY" in env:
            s3["retention_policy"] = Path(env["DUALREC_RETENTION_POLICY"])
        return replace(settings, **s3) if s3 else settings


#: Settings field -> the environment variable it is read from.
_S3_ENVIRONMENT = {
    "s3_bucket": "DUALREC_S3_BUCKET",
    "s3_endpoint": "DUALREC_S3_ENDPOINT",
    "s3_region": "DUALREC_S3_REGION",
    "s3_prefix": "DUALREC_S3_PREFIX",
    "s3_sse": "DUALREC_S3_SSE",
    "s3_kms_key_id": "DUALREC_S3_KMS_KEY_ID",
    "s3_keep_local": "DUALREC_S3_KEEP_LOCAL",
    "s3_retry_max_s": "DUALREC_S3_RETRY_MAX_S",
}


def _check_ice(settings: Settings) -> None:
    """Refuse STUN/TURN settings that make no sense (only imports signaling when set)."""
    if (
        settings.stun_urls
        or settings.turn_urls
        or settings.turn_secret is not None
        or (settings.turn_ttl_s, settings.ice_transport_policy) != (3600, "all")
    ):
        from signaling.ice import IceConfigError, IceServers

        try:
            IceServers(
                settings.stun_urls,
                settings.turn_urls,
                settings.turn_secret,
                settings.turn_ttl_s,
                settings.ice_transport_policy,
            )
        except IceConfigError as exc:
            raise SettingsError(str(exc)) from None


def _ice_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The STUN/TURN settings of DUALREC_STUN_URLS, _TURN_URLS (comma-separated),
    _TURN_SECRET, _TURN_TTL_S and _ICE_TRANSPORT_POLICY."""
    found: dict[str, Any] = {}
    for name, key in (("DUALREC_STUN_URLS", "stun_urls"), ("DUALREC_TURN_URLS", "turn_urls")):
        if name in env:
            found[key] = tuple(u.strip() for u in env[name].split(",") if u.strip())
    if env.get("DUALREC_TURN_SECRET", "").strip():
        found["turn_secret"] = env["DUALREC_TURN_SECRET"].strip()
    if "DUALREC_TURN_TTL_S" in env:
        try:
            found["turn_ttl_s"] = int(env["DUALREC_TURN_TTL_S"])
        except ValueError:
            raise SettingsError("DUALREC_TURN_TTL_S must be a whole number of seconds") from None
    if "DUALREC_ICE_TRANSPORT_POLICY" in env:
        found["ice_transport_policy"] = env["DUALREC_ICE_TRANSPORT_POLICY"].strip()
    return found


def _flag(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/true/yes/on or 0/false/no/off, got {value!r}")
