"""The server's settings: one frozen ``Settings``, validated as a whole.

They are read from the configuration file, the environment and the flags by
``dualrec.config``, whose names for each field are in ``dualrec.options``.
"""

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

from inspection.recogniser import model_files


class SettingsError(ValueError):
    """A setting that makes no sense (an unknown time zone, say), naming the fields at fault."""

    def __init__(self, message: str, *fields: str) -> None:
        super().__init__(message)
        self.fields = fields


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
    #: The share of passing inspected parts queued for the auditors' review besides every
    #: failed or doubtful one, chosen by session id, so every node picks the same parts.
    review_sample_share: float = 0.1
    #: PocketSphinx model folders (acoustic model, dictionary, language model) the
    #: inspection recognises the customer's spoken confirmation with. None: English uses
    #: the model the pocketsphinx wheel ships; Mandarin has none (a person listens).
    speech_model_zh_cn: Path | None = None
    speech_model_en: Path | None = None
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
    #: ``dualrec serve``: make the data folder if it is not one yet (as ``dualrec init``).
    init: bool = False

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"unknown time zone {self.timezone!r}", "timezone") from exc
        _check_ice(self)
        if self.s3_endpoint is not None and "@" in urlsplit(self.s3_endpoint).netloc:
            # Credentials in the URL would end up in reprs and logs.
            raise SettingsError(
                "the S3 endpoint must not hold credentials; use AWS_* variables", "s3_endpoint"
            )
        if not 0 <= self.database_retry_s < float("inf"):
            raise SettingsError(
                f"database_retry_s must be >= 0, got {self.database_retry_s}", "database_retry_s"
            )
        if not 0 <= self.review_sample_share <= 1:
            raise SettingsError(
                f"review_sample_share must be from 0 to 1 (0.1 is 10 %), got "
                f"{self.review_sample_share}",
                "review_sample_share",
            )
        for name, folder in (
            ("speech_model_zh_cn", self.speech_model_zh_cn),
            ("speech_model_en", self.speech_model_en),
        ):
            if folder is not None and not folder.is_dir():
                raise SettingsError(f"{name}: no speech model folder at {folder}", name)
            if folder is not None:  # refused at start, not at the first inspection
                try:
                    model_files(folder)
                except ValueError as exc:
                    raise SettingsError(f"{name}: {exc}", name) from exc
        if self.s3_retry_max_s <= 0:
            raise SettingsError(
                f"s3_retry_max_s must be positive, got {self.s3_retry_max_s}", "s3_retry_max_s"
            )
        if self.log_format not in ("text", "json"):
            raise SettingsError(
                f"log_format must be text or json, got {self.log_format!r}", "log_format"
            )
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(
                f"log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}",
                "log_level",
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError(
                "HTTPS needs both tls_cert and tls_key (--tls-cert, --tls-key)",
                "tls_cert",
                "tls_key",
            )
        for proxy in self.trusted_proxies:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(
                    f"trusted proxy {proxy!r} is not an IP address or network (10.1.0.10, "
                    "10.1.0.0/24)",
                    "trusted_proxies",
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
                "--database-url postgresql://...; the embedded SQLite file belongs to one process",
                "redis_url",
                "database_url",
            )

    @property
    def speech_models(self) -> dict[str, Path]:
        """The speech model folders configured, by language (as ``common.Language``)."""
        given = {"zh-CN": self.speech_model_zh_cn, "en": self.speech_model_en}
        return {language: folder for language, folder in given.items() if folder is not None}

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
        """Defaults overridden by ``DUALREC_*`` environment variables (no file, no flags)."""
        from .config import load_settings

        return load_settings(environ=os.environ if environ is None else environ, use_file=False)


#: The log levels ``log_level`` may name.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The fields of the STUN/TURN settings, checked together.
ICE_FIELDS = ("stun_urls", "turn_urls", "turn_secret", "turn_ttl_s", "ice_transport_policy")


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
            raise SettingsError(str(exc), *ICE_FIELDS) from None
