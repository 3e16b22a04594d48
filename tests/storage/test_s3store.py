"""The S3 recording store against a real S3 HTTP endpoint (moto's server).

Object Lock retention per business type, legal holds, checksums, retries and bad input.
"""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import NotFound, StorageError
from storage.objectstore import (
    ChecksumMismatch,
    LocalStore,
    RetentionLocked,
    StoredObject,
    UploadFailed,
)
from storage.s3store import S3Store
from tests.storage.s3server import (
    bucket,
    flaky_proxy,
    make_store,
    raw_client,
    s3_endpoint,
    s3_url,
)
from tests.storage.segment_files import (
    POLICY,
    RECORDED,
    MakeStore,
    StartProxy,
    segment,
    until_second,
    upload,
)

__all__ = ["bucket", "flaky_proxy", "make_store", "s3_endpoint", "s3_url"]


@pytest.mark.parametrize(("business_type", "years"), [("card_opening", 5), ("wealth_purchase", 10)])
def test_upload_is_confirmed_and_locked_per_business_type(
    make_store: MakeStore, s3_url: str, bucket: str, tmp_path: Path, business_type: str, years: int
) -> None:
    store = make_store()
    stored, (path, sha) = upload(store, "s1/kiosk-video-0001.webm", tmp_path, business_type)

    expected_until = until_second(RECORDED.replace(year=RECORDED.year + years))
    assert stored == StoredObject(
        "s1/kiosk-video-0001.webm",
        f"s3://{bucket}/recordings/s1/kiosk-video-0001.webm",
        sha,
        300_000,
        stored.version_id,
        expected_until,
    )
    assert store.retention("s1/kiosk-video-0001.webm") == ("COMPLIANCE", expected_until)
    assert store.read("s1/kiosk-video-0001.webm") == path.read_bytes()
    stream = store.open("s1/kiosk-video-0001.webm")
    try:
        assert hashlib.sha256(stream.read()).hexdigest() == sha
    finally:
        stream.close()
    # What S3 itself reports, seen through a plain client.
    head = raw_client(s3_url).head_object(
        Bucket=bucket, Key="recordings/s1/kiosk-video-0001.webm", ChecksumMode="ENABLED"
    )
    assert base64.b64decode(head["ChecksumSHA256"]) == bytes.fromhex(sha)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert path.exists()


def test_contract_end_lengthens_the_lock(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    path, sha = segment(tmp_path)
    ends = datetime(2040, 8, 31, 12, 0, tzinfo=UTC)
    stored = store.put(
        "s2/a.webm",
        path,
        sha,
        business_type="loan_review",
        recorded_at=RECORDED,
        contract_ends_at=ends,
    )
    # 31 Aug + 6 months has no 31 Feb: the lock rolls forward to 1 March, never shorter.
    assert stored.retain_until == datetime(2041, 3, 1, 12, 0, tzinfo=UTC)
    assert store.retention("s2/a.webm").until == stored.retain_until


def test_sse_kms_with_key_id(
    make_store: MakeStore, s3_url: str, bucket: str, tmp_path: Path
) -> None:
    store = make_store(sse="aws:kms", kms_key_id="alias/dualrec-recordings")
    upload(store, "s3/a.webm", tmp_path)
    head = raw_client(s3_url).head_object(Bucket=bucket, Key="recordings/s3/a.webm")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == "alias/dualrec-recordings"


def test_delete_under_retention_is_refused(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    stored, (path, _) = upload(store, "s4/a.webm", tmp_path)
    assert stored.retain_until is not None

    with pytest.raises(RetentionLocked) as caught:
        store.delete("s4/a.webm")

    assert isinstance(caught.value, PermissionError)
    assert caught.value.until == stored.retain_until
    assert not caught.value.legal_hold
    assert "recordings/s4/a.webm" in str(caught.value)
    assert stored.retain_until.isoformat() in str(caught.value)
    assert store.exists("s4/a.webm")
    assert store.read("s4/a.webm") == path.read_bytes()


def test_legal_hold_set_and_lifted(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    upload(store, "s5/a.webm", tmp_path, "risk_assessment")
    assert not store.legal_hold("s5/a.webm")

    store.set_legal_hold("s5/a.webm", True)
    assert store.legal_hold("s5/a.webm")
    with pytest.raises(RetentionLocked, match="legal hold") as caught:
        store.delete("s5/a.webm")
    assert caught.value.legal_hold

    store.set_legal_hold("s5/a.webm", False)
    assert not store.legal_hold("s5/a.webm")
    with pytest.raises(RetentionLocked) as caught:
        store.delete("s5/a.webm")  # the retention period still holds
    assert not caught.value.legal_hold


def test_delete_once_retention_has_passed(make_store: MakeStore, s3_url: str, bucket: str) -> None:
    # An object whose (short) lock was written directly, as one would be years later.
    raw_client(s3_url).put_object(
        Bucket=bucket,
        Key="recordings/old/a.webm",
        Body=b"old",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(seconds=1.5),
    )
    store = make_store()
    with pytest.raises(RetentionLocked):
        store.delete("old/a.webm")
    time.sleep(2)
    store.delete("old/a.webm")
    assert not store.exists("old/a.webm")
    with pytest.raises(NotFound):
        store.delete("old/a.webm")


def test_extend_retention_never_shortens(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    stored, _ = upload(store, "s6/a.webm", tmp_path)
    assert stored.retain_until is not None
    later = stored.retain_until + timedelta(days=400)
    assert store.extend_retention("s6/a.webm", later) == ("COMPLIANCE", later)
    with pytest.raises(StorageError, match="cannot shorten"):
        store.extend_retention("s6/a.webm", stored.retain_until)
    assert store.retention("s6/a.webm").until == later


def test_wrong_sha256_is_refused_and_the_file_kept(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    path, sha = segment(tmp_path)
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(ChecksumMismatch) as caught:
        store.put("s7/a.webm", path, wrong, business_type="card_opening", recorded_at=RECORDED)

    assert caught.value.expected == wrong and caught.value.actual == sha
    assert path.exists()
    assert not store.exists("s7/a.webm")


def test_stored_copy_that_differs_is_detected(
    make_store: MakeStore, s3_url: str, bucket: str, tmp_path: Path
) -> None:
    store = make_store()
    _, (path, sha) = upload(store, "s8/a.webm", tmp_path)
    # Someone writes a new version over the key: the current object is no longer ours.
    raw_client(s3_url).put_object(
        Bucket=bucket, Key="recordings/s8/a.webm", Body=b"forged", ChecksumAlgorithm="SHA256"
    )

    with pytest.raises(ChecksumMismatch, match="stored object"):
        store.confirm("s8/a.webm", sha)
    with pytest.raises(ChecksumMismatch):
        store.delete_local_after_upload("s8/a.webm", path, sha)
    assert path.exists()


def test_local_copy_deleted_only_after_confirmed_upload(
    make_store: MakeStore, tmp_path: Path
) -> None:
    store = make_store()
    path, sha = segment(tmp_path)

    with pytest.raises(NotFound):
        store.delete_local_after_upload("s9/a.webm", path, sha)  # not uploaded yet
    assert path.exists()

    store.put("s9/a.webm", path, sha, business_type="card_opening", recorded_at=RECORDED)
    stored = store.delete_local_after_upload("s9/a.webm", path, sha)

    assert not path.exists()
    assert stored.sha256 == sha
    assert hashlib.sha256(store.read("s9/a.webm")).hexdigest() == sha


def test_dropped_connections_are_retried(
    make_store: MakeStore, flaky_proxy: StartProxy, tmp_path: Path
) -> None:
    proxy = flaky_proxy(fail_first=2)
    store = make_store(endpoint_url=proxy.url, attempts=4)

    stored, (_, sha) = upload(store, "s10/a.webm", tmp_path)

    assert proxy.failed == 2
    assert proxy.connections >= 4  # two dropped, the upload, the confirmation
    assert make_store().confirm("s10/a.webm", sha) == stored


def test_slowdown_is_retried(
    make_store: MakeStore, flaky_proxy: StartProxy, tmp_path: Path
) -> None:
    proxy = flaky_proxy(fail_first=3, mode="slowdown")
    store = make_store(endpoint_url=proxy.url, attempts=5)

    upload(store, "s11/a.webm", tmp_path, size=20_000)

    assert proxy.failed == 3
    assert make_store().exists("s11/a.webm")


def test_upload_fails_after_the_last_attempt(
    make_store: MakeStore, flaky_proxy: StartProxy, tmp_path: Path
) -> None:
    proxy = flaky_proxy(fail_first=1000)
    store = make_store(endpoint_url=proxy.url, attempts=3)
    path, sha = segment(tmp_path)

    with pytest.raises(UploadFailed, match=r"s12/a\.webm.*3 attempt") as caught:
        store.put("s12/a.webm", path, sha, business_type="card_opening", recorded_at=RECORDED)

    assert isinstance(caught.value, ConnectionError)
    assert proxy.connections == 3
    assert path.exists()
    assert not make_store().exists("s12/a.webm")


def test_ensure_bucket_checks_object_lock(make_store: MakeStore, s3_url: str, bucket: str) -> None:
    make_store().ensure_bucket()  # already there, Object Lock on: nothing to do
    raw_client(s3_url).create_bucket(Bucket=f"{bucket}-nolock")
    with pytest.raises(StorageError, match="has no Object Lock"):
        make_store(bucket_name=f"{bucket}-nolock").ensure_bucket(create=False)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        make_store(bucket_name=f"{bucket}-missing").ensure_bucket(create=False)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "a\\b", "./a", "a/\n"])
def test_invalid_keys_are_refused(make_store: MakeStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError, match="invalid recording key"):
        make_store().exists(key)
    with pytest.raises(StorageError, match="invalid recording key"):
        LocalStore(tmp_path).exists(key)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(StorageError, match="invalid sse"):
        S3Store("b", policy=POLICY, sse="none")
    with pytest.raises(StorageError, match="kms_key_id"):
        S3Store("b", policy=POLICY, kms_key_id="k")
    with pytest.raises(StorageError, match="retry"):
        S3Store("b", policy=POLICY, attempts=0)
