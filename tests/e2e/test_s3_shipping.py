"""Recordings shipped to a real S3 endpoint (moto's server, Object Lock) by a real server.

A real call between a synthetic kiosk and a scripted agent; the segments must reach
the bucket while the call is still going, the archive after it, every object locked
in COMPLIANCE mode until the policy's date, and the recording read back from the bucket
must verify. An outage of the endpoint holds the uploads back without losing a file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from common import CHAIN_FILE, MANIFEST_FILE
from dualrec.app import RECORDINGS
from dualrec.demo import start_server
from dualrec.settings import Settings
from inspection import REPORT_FILE
from media.archive import COMPOSITE
from media.verify import verify_recording
from storage.objectstore import RetentionLocked, TieredStore
from storage.retention import RetentionPolicy
from storage.shipping import RecordingShipper
from tests.storage.s3server import (
    KEY_ID,
    REGION,
    SECRET,
    FlakyProxy,
    bucket,
    raw_client,
    s3_endpoint,
    s3_url,
)
from tests.support import RunningServer, run_session

__all__ = ["bucket", "s3_endpoint", "s3_url"]  # fixtures, imported for these tests

PREFIX = "recordings/"
POLICY = RetentionPolicy.load()


class Outage(FlakyProxy):
    """A proxy in front of the S3 server that can go down (cutting every connection) and back."""

    def go_down(self) -> None:
        """Refuse new connections and cut those open (pooled keep-alive ones too)."""
        self.fail_first = 10**9
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(timeout=10)

    def come_back(self) -> None:
        """Relay every new connection again."""
        self.fail_first = 0

    async def _cut(self) -> None:
        for task in list(self._handlers):
            task.cancel()


@pytest.fixture
def outage(s3_endpoint: tuple[str, int]) -> Iterator[Outage]:
    """A working proxy to the S3 server, which the test may take down."""
    proxy = Outage(s3_endpoint, fail_first=0)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def settings(
    tmp_path: Path, bucket: str, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The test server's settings, with the bucket behind the proxy; keys from the environment."""
    # boto3's usual chain: Settings never hold credentials.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    return Settings(
        data_dir=tmp_path / "var",
        segment_s=3.0,
        tts_speed_wpm=900,
        s3_bucket=bucket,
        s3_endpoint=outage.url,
        s3_region=REGION,
        s3_retry_max_s=1.0,
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The real app, shipping to the test bucket."""
    runner, url = await start_server(settings)
    try:
        yield RunningServer(runner, url, settings)
    finally:
        await runner.cleanup()


def shipper_of(server: RunningServer) -> RecordingShipper:
    """The server's shipper (S3 is configured in these tests)."""
    shipper = server.centre.shipper
    assert isinstance(shipper, RecordingShipper)
    return shipper


def keys(s3_url: str, bucket: str, under: str) -> set[str]:
    """The keys stored under ``under`` (without the store's prefix)."""
    pages = (
        raw_client(s3_url)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=PREFIX + under)
    )
    return {item["Key"][len(PREFIX) :] for page in pages for item in page.get("Contents", [])}


def local_files(folder: Path) -> list[str]:
    """The regular files left in a part folder."""
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def ceil_second(moment: datetime) -> datetime:
    """As S3 keeps retention dates: rounded up to the second."""
    whole = moment.replace(microsecond=0)
    return whole + timedelta(seconds=1) if moment.microsecond else whole


async def expected_keys(server: RunningServer, session_id: str) -> set[str]:
    """Every file of the session's archive: segments, evidence, manifest, chain, composite,
    the inspection's report (its job runs after the composite's, before shipping)."""
    detail = await server.db.get_session(session_id)
    segments = {f.path for f in detail.files}
    evidence = {f"{session_id}/{e.file}" for e in detail.evidence}
    archive = {MANIFEST_FILE, CHAIN_FILE, COMPOSITE, Path(COMPOSITE).with_suffix(".vtt").name}
    archive.add(REPORT_FILE)
    assert len(segments) >= 8 and evidence
    return segments | evidence | {f"{session_id}/{name}" for name in archive}


async def test_segments_ship_during_the_call_and_the_archive_after(
    server: RunningServer, s3_url: str, bucket: str, tmp_path: Path
) -> None:
    seen: dict[str, datetime] = {}
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            for key in await asyncio.to_thread(keys, s3_url, bucket, ""):
                seen.setdefault(key, datetime.now(UTC))
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch())
    try:
        session_id = await run_session(server, step_s=1.2)
    finally:
        done.set()
        await watcher
    shipper = shipper_of(server)
    assert await shipper.drain(timeout=120)

    detail = await server.db.get_session(session_id)
    assert detail.session.ended_at is not None and detail.session.started_at is not None
    # Segments were in the bucket before the call ended: shipped as they closed.
    early = [k for k, at in seen.items() if k.endswith(".webm") and at < detail.session.ended_at]
    assert len(early) >= 2, seen

    expected = await expected_keys(server, session_id)
    stored = await asyncio.to_thread(keys, s3_url, bucket, session_id + "/")
    assert expected <= stored, expected - stored
    until = ceil_second(POLICY.retain_until("card_opening", detail.session.started_at))
    assert until.year == detail.session.started_at.year + 5
    client = raw_client(s3_url)
    for key in sorted(stored):
        head = await asyncio.to_thread(
            client.head_object, Bucket=bucket, Key=PREFIX + key, ChecksumMode="ENABLED"
        )
        assert head["ObjectLockMode"] == "COMPLIANCE", key
        assert head["ObjectLockRetainUntilDate"] == until, key
        assert head["ServerSideEncryption"] == "AES256", key
        assert head["ChecksumSHA256"], key
    assert detail.session.retain_until == until

    # Confirmed, so the local copies are gone; reads fall through to the bucket.
    folder = server.settings.recordings_dir / session_id
    assert local_files(folder) == []
    assert shipper.stats.deleted_local >= len(expected)
    recordings = server.runner.app[RECORDINGS]
    assert isinstance(recordings, TieredStore)
    first = sorted(f.path for f in detail.files)[0]
    data = await asyncio.to_thread(recordings.read, first)
    assert data[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file

    # The recording fetched back from the store verifies against the server's key.
    copy = tmp_path / "fetched" / session_id
    copy.mkdir(parents=True)
    for key in stored:
        name = key[len(session_id) + 1 :]
        if "/" not in name:
            (copy / name).write_bytes(await asyncio.to_thread(recordings.read, key))
    trusted = server.centre.signing_key.public_key()
    report = await asyncio.to_thread(verify_recording, copy, trusted)
    assert report.ok, report.problems

    # Object Lock refuses a delete before the retention date, by any route.
    with pytest.raises(RetentionLocked) as refused:
        await asyncio.to_thread(recordings.delete, first)
    assert refused.value.until == until
    version = (await asyncio.to_thread(client.head_object, Bucket=bucket, Key=PREFIX + first))[
        "VersionId"
    ]
    with pytest.raises(ClientError, match="AccessDenied"):
        await asyncio.to_thread(
            client.delete_object, Bucket=bucket, Key=PREFIX + first, VersionId=version
        )
    assert await asyncio.to_thread(recordings.exists, first)

    async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
        health: dict[str, Any] = await response.json()
    assert health["uploads_pending"] == 0


#: How long object storage is down in the outage test.
OUTAGE_S = 60.0


@pytest.mark.timeout(OUTAGE_S + 240)
async def test_uploads_wait_out_an_outage_and_keep_the_local_files(
    server: RunningServer, outage: Outage, s3_url: str, bucket: str
) -> None:
    shipper = shipper_of(server)
    outage.go_down()
    down_at = time.monotonic()
    session_id = await run_session(server, step_s=1.2)
    # The composite is made and the archive queued; nothing can be stored yet.
    job = server.centre.composite_jobs.get(session_id)
    if job is not None:
        await job
    assert not await shipper.drain(timeout=3)
    folder = server.settings.recordings_dir / session_id
    expected = await expected_keys(server, session_id)
    held = local_files(folder)
    assert {f"{session_id}/{name}" for name in held} == expected
    assert shipper.pending > 0 and shipper.stats.retried > 0
    assert await asyncio.to_thread(keys, s3_url, bucket, session_id + "/") == set()
    # Down for a whole minute (issue 13): the uploads keep being tried, nothing local goes.
    retried = shipper.stats.retried
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    assert local_files(folder) == held
    assert shipper.stats.retried > retried
    assert await asyncio.to_thread(keys, s3_url, bucket, session_id + "/") == set()

    outage.come_back()
    began = time.monotonic()
    assert await shipper.drain(timeout=120)
    stored = await asyncio.to_thread(keys, s3_url, bucket, session_id + "/")
    assert expected <= stored, expected - stored
    assert local_files(folder) == []
    assert shipper.pending == 0
    assert time.monotonic() - began < 60
    detail = await server.db.get_session(session_id)
    assert detail.session.started_at is not None
    assert detail.session.retain_until == ceil_second(
        POLICY.retain_until("card_opening", detail.session.started_at)
    )
