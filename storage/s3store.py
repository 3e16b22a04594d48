"""Recordings in S3 under Object Lock (COMPLIANCE), uploads confirmed by their SHA-256."""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, SSLError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .errors import NotFound, StorageError, StorageUnavailable
from .objectstore import (
    ChecksumMismatch,
    Readable,
    Retention,
    RetentionLocked,
    StoredObject,
    UploadFailed,
    check_key,
    check_sha256,
    verified_local_size,
)
from .retention import RetentionPolicy

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_SSE = ("AES256", "aws:kms")
# Error codes S3 and its look-alikes answer when a retry may succeed. BadDigest counts:
# the local file was checked first, so a mismatch on arrival is damage in transit.
_TRANSIENT = frozenset(
    {"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable", "Throttling"}
    | {"ThrottlingException", "RequestLimitExceeded", "BadDigest", "XAmzContentSHA256Mismatch"}
)
_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})


class S3Store:
    """Recordings in an S3 bucket, each object locked in COMPLIANCE mode per the policy.

    Transient failures (connection errors, SlowDown, InternalError, RequestTimeout, 5xx)
    are retried with exponential backoff up to ``attempts`` times; botocore's own
    retries are off so that this is the one policy.
    """

    def __init__(
        self,
        bucket: str,
        *,
        policy: RetentionPolicy,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "recordings/",
        sse: str = "AES256",
        kms_key_id: str | None = None,
        attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        timeout_s: float = 60.0,
        max_connections: int = 10,
    ) -> None:
        """Build the client (no request is made until a method is called)."""
        if sse not in _SSE:
            raise StorageError(f"invalid sse {sse!r}; expected one of {', '.join(_SSE)}")
        if kms_key_id is not None and sse != "aws:kms":
            raise StorageError("kms_key_id is only valid with sse='aws:kms'")
        if attempts < 1 or backoff_s < 0 or max_backoff_s < backoff_s:
            raise StorageError(
                f"invalid retry settings: attempts={attempts}, backoff_s={backoff_s}"
            )
        self.bucket, self.policy, self.region = bucket, policy, region
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.sse, self.kms_key_id = sse, kms_key_id
        self.attempts, self._backoff, self._max_backoff = attempts, backoff_s, max_backoff_s
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            max_pool_connections=max_connections,
        )
        try:
            self._s3: Any = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=config,
            )
        except (BotoCoreError, ValueError) as exc:
            raise StorageError(f"cannot configure S3 client: {type(exc).__name__}") from exc

    def url(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def ensure_bucket(self, *, create: bool = True) -> None:
        """Create the bucket with Object Lock (tests, development), then check Object Lock is on."""
        if create:
            args: dict[str, Any] = {"ObjectLockEnabledForBucket": True}
            if self.region and self.region != "us-east-1":
                args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            self._bucket_call("create", "create_bucket", "BucketAlreadyOwnedByYou", **args)
        config = self._bucket_call(
            "check Object Lock",
            "get_object_lock_configuration",
            "ObjectLockConfigurationNotFoundError",
        )
        if (config or {}).get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise StorageError(
                f"bucket {self.bucket!r} has no Object Lock: recordings there could be deleted; "
                "create it with Object Lock enabled"
            )

    def put(
        self,
        key: str,
        path: Path,
        sha256: str,
        *,
        business_type: str,
        recorded_at: datetime,
        contract_ends_at: datetime | None = None,
    ) -> StoredObject:
        """Upload a file locked until the policy's date; return once its checksum is confirmed."""
        check_key(key)
        check_sha256(key, sha256)
        until = _ceil_second(self.policy.retain_until(business_type, recorded_at, contract_ends_at))
        if until <= datetime.now(UTC):
            raise StorageError(f"{key}: retention already ended on {until.isoformat()}")
        size = verified_local_size(key, path, sha256)
        extra = {"SSEKMSKeyId": self.kms_key_id} if self.kms_key_id else {}

        def upload() -> Any:
            with path.open("rb") as body:
                return self._s3.put_object(
                    Bucket=self.bucket,
                    Key=self.prefix + key,
                    Body=body,
                    ContentLength=size,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_b64(sha256),
                    ObjectLockMode="COMPLIANCE",
                    ObjectLockRetainUntilDate=until,
                    ServerSideEncryption=self.sse,
                    **extra,
                )

        try:
            version = self._retrying("upload", key, upload).get("VersionId")
            stored = self.confirm(key, sha256, version_id=version, size=size, until=until)
        except StorageUnavailable as exc:
            raise UploadFailed(key, self.attempts, str(exc.__cause__ or exc)) from exc
        logger.info("uploaded %s (%d bytes), locked until %s", self.url(key), size, until)
        return stored

    def confirm(
        self,
        key: str,
        sha256: str,
        *,
        version_id: str | None = None,
        size: int | None = None,
        until: datetime | None = None,
    ) -> StoredObject:
        """Check the stored object's SHA-256 (and size, lock, encryption) as S3 reports it."""
        args = {"VersionId": version_id} if version_id else {}
        head = self._head(key, ChecksumMode="ENABLED", **args)
        stored = head.get("ChecksumSHA256")
        if stored != _b64(sha256):
            actual = base64.b64decode(stored).hex() if stored else None
            raise ChecksumMismatch(key, f"stored object {self.url(key)}", sha256, actual)
        problems = []
        if size is not None and head.get("ContentLength") != size:
            problems.append(f"size {head.get('ContentLength')} != {size}")
        mode, locked_until = _retention(head)
        if until is not None and (
            mode != "COMPLIANCE" or locked_until is None or locked_until < until
        ):
            problems.append(
                f"Object Lock {mode} until {locked_until}, expected COMPLIANCE until {until}"
            )
        if head.get("ServerSideEncryption") != self.sse:
            problems.append(f"encryption {head.get('ServerSideEncryption')!r} != {self.sse!r}")
        if problems:
            raise StorageError(f"{self.url(key)} not confirmed: {'; '.join(problems)}")
        return StoredObject(
            key, self.url(key), sha256, head["ContentLength"], head.get("VersionId"), locked_until
        )

    def delete_local_after_upload(self, key: str, path: Path, sha256: str) -> StoredObject:
        """Delete the local copy, only once the stored object and the file match ``sha256``."""
        stored = self.confirm(key, sha256)
        verified_local_size(key, path, sha256)
        try:
            path.unlink()
        except OSError as exc:
            raise StorageError(f"{key}: confirmed in {stored.url}, but {exc}") from exc
        logger.info("deleted local %s: confirmed in %s", path, stored.url)
        return stored

    def open(self, key: str) -> Readable:
        """A stream of the object's bytes."""
        body: Readable = self._object_call("download", key, "get_object")["Body"]
        return body

    def read(self, key: str) -> bytes:
        """The whole object."""

        def download() -> bytes:
            with self._s3.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"] as body:
                return cast(bytes, body.read())

        return self._retrying("download", key, download)

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a current version."""
        try:
            self._head(key)
        except NotFound:
            return False
        return True

    def retention(self, key: str) -> Retention:
        """The current version's Object Lock retention mode and date."""
        return Retention(*_retention(self._head(key)))

    def legal_hold(self, key: str) -> bool:
        """Whether the current version is under legal hold."""
        return self._head(key).get("ObjectLockLegalHoldStatus") == "ON"

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Put every version of ``key`` under legal hold, or lift it."""
        hold = {"Status": "ON" if on else "OFF"}
        for version in self._versions(key):
            self._object_call(
                "legal hold", key, "put_object_legal_hold", VersionId=version, LegalHold=hold
            )
        logger.info("legal hold %s: %s", hold["Status"], self.url(key))

    def extend_retention(self, key: str, until: datetime) -> Retention:
        """Lengthen the COMPLIANCE retention of every version of ``key`` (never shortens)."""
        until = _ceil_second(until.astimezone(UTC))
        current = self.retention(key)
        if current.until is not None and until < current.until:
            raise StorageError(
                f"{self.url(key)}: cannot shorten retention from {current.until} to {until}"
            )
        lock = {"Mode": "COMPLIANCE", "RetainUntilDate": until}
        for version in self._versions(key):
            self._object_call(
                "extend retention", key, "put_object_retention", VersionId=version, Retention=lock
            )
        return self.retention(key)

    def delete(self, key: str) -> None:
        """Delete every version of ``key``; Object Lock's refusal raises RetentionLocked."""
        versions = self._versions(key)
        if not versions:
            raise NotFound("recording object", key)
        for version in versions:
            try:
                self._object_call("delete", key, "delete_object", VersionId=version)
            except StorageError as exc:
                if _code(exc.__cause__) != "AccessDenied":
                    raise
                head = self._head(key, VersionId=version)
                _, until = _retention(head)
                hold = head.get("ObjectLockLegalHoldStatus") == "ON"
                if hold or (until is not None and until > datetime.now(UTC)):
                    raise RetentionLocked(self.url(key), until, hold) from exc
                raise
        logger.info("deleted %s (%d version(s))", self.url(key), len(versions))

    def close(self) -> None:
        """Close the client's connection pool."""
        self._s3.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _bucket_call(self, what: str, operation: str, tolerate: str, **args: Any) -> Any:
        """One client call on the bucket, with retries; the error code ``tolerate`` gives None."""
        method = getattr(self._s3, operation)
        try:
            return self._retrying(what, "", lambda: method(Bucket=self.bucket, **args))
        except StorageError as exc:
            if _code(exc.__cause__) != tolerate:
                raise
            return None

    def _object_call(self, what: str, key: str, operation: str, **args: Any) -> Any:
        """One client call on ``key`` (Bucket and Key filled in), with retries."""
        method = getattr(self._s3, operation)
        full = self.prefix + check_key(key)
        return self._retrying(what, key, lambda: method(Bucket=self.bucket, Key=full, **args))

    def _head(self, key: str, **args: Any) -> dict[str, Any]:
        try:
            head: dict[str, Any] = self._object_call("head", key, "head_object", **args)
        except StorageError as exc:
            if _code(exc.__cause__) in _MISSING:
                raise NotFound("recording object", key) from exc
            raise
        return head

    def _versions(self, key: str) -> list[str]:
        """Version ids of ``key`` (delete markers included), newest first."""
        full = self.prefix + check_key(key)

        def listing() -> list[str]:
            found: list[str] = []
            for page in self._s3.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if item["Key"] == full:
                        found.append(item["VersionId"])
            return found

        return self._retrying("list versions", key, listing)

    def _retrying(self, what: str, key: str, call: Callable[[], _T]) -> _T:
        """Run a boto3 call, retrying transient failures; wrap the last error."""
        where = self.url(key) if key else f"s3://{self.bucket}"
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except (ClientError, BotoCoreError) as exc:
                reason = _reason(exc)
                if not _transient(exc):
                    raise StorageError(f"{what} {where} failed: {reason}") from exc
                if attempt == self.attempts:
                    raise StorageUnavailable(
                        f"{what} {where} failed after {attempt} attempt(s): {reason}"
                    ) from exc
                delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
                delay *= random.uniform(0.5, 1.0)
                logger.warning(
                    "%s %s: %s; attempt %d in %.2f s", what, where, reason, attempt + 1, delay
                )
                time.sleep(delay)
            except OSError as exc:  # reading the local file
                raise StorageError(f"{what} {where} failed: {exc}") from exc
        raise AssertionError("unreachable")


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, SSLError):
        return False
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _code(exc) in _TRANSIENT or status >= 500
    return False


def _code(exc: BaseException | None) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def _retention(head: dict[str, Any]) -> tuple[str | None, datetime | None]:
    until = head.get("ObjectLockRetainUntilDate")
    return head.get("ObjectLockMode"), until.astimezone(UTC) if until is not None else None


def _ceil_second(moment: datetime) -> datetime:
    # S3 keeps retention dates to the second: rounding up keeps the period whole.
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def _b64(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
