"""Segment files written by the object-store tests, and what they are put with."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from storage.objectstore import (
    StoredObject,
)
from storage.retention import RetentionPolicy
from storage.s3store import S3Store
from tests.storage.s3server import FlakyProxy

RECORDED = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)


POLICY = RetentionPolicy.load()


MakeStore = Callable[..., S3Store]


StartProxy = Callable[..., FlakyProxy]


class Segment(NamedTuple):
    """A segment file written by a test."""

    path: Path
    sha256: str


def segment(folder: Path, name: str = "kiosk-video-0001.webm", size: int = 300_000) -> Segment:
    """Write a segment of random bytes under ``folder``: its path and SHA-256."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    path.write_bytes(data)
    return Segment(path, hashlib.sha256(data).hexdigest())


def upload(
    store: S3Store, key: str, folder: Path, business_type: str = "card_opening", **options: Any
) -> tuple[StoredObject, Segment]:
    """Write a segment and put it into ``store`` as ``key``."""
    seg = segment(folder, **options)
    stored = store.put(key, seg.path, seg.sha256, business_type=business_type, recorded_at=RECORDED)
    return stored, seg


def until_second(moment: datetime) -> datetime:
    """``moment`` rounded up to the whole second, as S3 keeps retention dates."""
    return moment.replace(microsecond=0) + timedelta(seconds=1 if moment.microsecond else 0)
