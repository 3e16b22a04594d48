"""The one place where configuration is read: command line and environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
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
    timezone: str = "Asia/Shanghai"
    #: How fast announcements are spoken (espeak-ng words per minute; 175 is natural).
    tts_speed_wpm: int = 175

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def recordings_dir(self) -> Path:
        """Where the recordings are kept."""
        return self.data_dir / "recordings"

    @property
    def signing_key_path(self) -> Path:
        """The server's Ed25519 key that signs every recording's manifest."""
        return self.data_dir / "keys" / "recording-signing-key.pem"

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
        if "DUALREC_TIMEZONE" in env:
            settings = replace(settings, timezone=env["DUALREC_TIMEZONE"])
        return settings
