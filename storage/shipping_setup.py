"""Opening the recording shipper from the server's settings (S3 bucket, retention policy)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from .database import Database
from .errors import StorageError, StorageUnavailable
from .retention import RetentionPolicy
from .s3store import S3Store
from .shipping import RecordingShipper

logger = logging.getLogger(__name__)


class ShippingSettings(Protocol):
    """What opening the shipper reads of the server's settings (``dualrec.settings``)."""

    @property
    def s3_bucket(self) -> str | None: ...
    @property
    def s3_endpoint(self) -> str | None: ...
    @property
    def s3_region(self) -> str | None: ...
    @property
    def s3_prefix(self) -> str: ...
    @property
    def s3_sse(self) -> str: ...
    @property
    def s3_kms_key_id(self) -> str | None: ...
    @property
    def s3_keep_local(self) -> bool: ...
    @property
    def s3_retry_max_s(self) -> float: ...
    @property
    def retention_policy(self) -> Path | None: ...
    @property
    def recordings_dir(self) -> Path: ...


async def open_shipper(settings: ShippingSettings, db: Database) -> RecordingShipper | None:
    """The started shipper for ``settings``' bucket, or None when S3 is not configured.

    A bucket without Object Lock (or missing) stops the server: recordings there could
    be deleted. An unreachable endpoint does not: recording goes on and uploads wait.
    """
    if not settings.s3_bucket:
        return None
    policy = await asyncio.to_thread(RetentionPolicy.load, settings.retention_policy)
    store = S3Store(
        settings.s3_bucket,
        policy=policy,
        endpoint_url=settings.s3_endpoint,
        region=settings.s3_region,
        prefix=settings.s3_prefix,
        sse=settings.s3_sse,
        kms_key_id=settings.s3_kms_key_id,
        # The shipper tries again on its own schedule: a short burst here is enough.
        attempts=3,
        timeout_s=30.0,
    )
    try:
        await asyncio.to_thread(store.ensure_bucket, create=False)
    except StorageUnavailable as exc:
        logger.error("object storage unreachable at start (uploads will wait): %s", exc)
    except StorageError:
        await asyncio.to_thread(store.close)
        raise
    shipper = RecordingShipper(
        store,
        db,
        settings.recordings_dir,
        keep_local=settings.s3_keep_local,
        retry_s=min(1.0, settings.s3_retry_max_s),
        retry_max_s=settings.s3_retry_max_s,
        owns_store=True,
    )
    await shipper.start()
    logger.info(
        "recordings ship to %s (%s, retention policy %s)",
        store.url(""),
        "local copies kept" if settings.s3_keep_local else "local copies deleted once confirmed",
        policy.source,
    )
    return shipper
