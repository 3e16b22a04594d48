"""The local recording store on real files; the async uploader against a real S3 endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from storage import NotFound, StorageError
from storage.objectstore import (
    ChecksumMismatch,
    LocalStore,
    StoredObject,
    Uploader,
    UploadFailed,
)
from tests.storage.s3server import (
    bucket,
    flaky_proxy,
    make_store,
    s3_endpoint,
    s3_url,
)
from tests.storage.segment_files import (
    RECORDED,
    MakeStore,
    StartProxy,
    segment,
    until_second,
)

__all__ = ["bucket", "flaky_proxy", "make_store", "s3_endpoint", "s3_url"]


# -- local folder ----------------------------------------------------------------------


def test_local_store_checks_files_in_place(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    path, sha = segment(tmp_path / "s1")

    stored = store.put(
        "s1/kiosk-video-0001.webm", path, sha, business_type="card_opening", recorded_at=RECORDED
    )

    assert stored == StoredObject("s1/kiosk-video-0001.webm", path.as_uri(), sha, 300_000)
    assert store.exists("s1/kiosk-video-0001.webm")
    assert store.read("s1/kiosk-video-0001.webm") == path.read_bytes()
    with pytest.raises(ChecksumMismatch):
        store.put(
            "s1/kiosk-video-0001.webm", path, "0" * 64, business_type="x", recorded_at=RECORDED
        )
    with pytest.raises(StorageError, match="keeps files in place"):
        store.put("s1/other.webm", path, sha, business_type="card_opening", recorded_at=RECORDED)
    store.delete("s1/kiosk-video-0001.webm")
    assert not path.exists() and not store.exists("s1/kiosk-video-0001.webm")
    for call in (store.read, store.open, store.delete):
        with pytest.raises(NotFound):
            call("s1/kiosk-video-0001.webm")


# -- the async uploader ------------------------------------------------------------------


async def test_uploader_uploads_off_the_event_loop(
    make_store: MakeStore, flaky_proxy: StartProxy, tmp_path: Path
) -> None:
    # The first request fails and the store backs off for 0.3-0.6 s: on the loop, that
    # sleep would stall the ticker below.
    proxy = flaky_proxy(fail_first=1)
    store = make_store(endpoint_url=proxy.url, backoff_s=0.6)
    uploader = Uploader(store, concurrency=1, delete_local=True)
    segments = [segment(tmp_path, f"kiosk-audio-000{i}.webm", 50_000) for i in range(1, 5)]
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    uploads = [
        asyncio.create_task(
            uploader.upload_segment("sess1", path, sha, "wealth_purchase", RECORDED)
        )
        for path, sha in segments
    ]
    await asyncio.sleep(0.05)
    assert uploader.pending() == 4
    stored = await asyncio.gather(*uploads)
    ticker.cancel()
    await uploader.close()

    assert uploader.pending() == 0
    assert max(gaps) < 0.25
    assert [s.key for s in stored] == [f"sess1/{path.name}" for path, _ in segments]
    assert all(s.retain_until == until_second(RECORDED.replace(year=2036)) for s in stored)
    assert not any(path.exists() for path, _ in segments)  # confirmed, then deleted
    for path, sha in segments:
        assert make_store().confirm(f"sess1/{path.name}", sha).sha256 == sha


async def test_uploader_failure_keeps_the_local_file(
    make_store: MakeStore, flaky_proxy: StartProxy, tmp_path: Path
) -> None:
    proxy = flaky_proxy(fail_first=1000)
    uploader = Uploader(make_store(endpoint_url=proxy.url, attempts=2), delete_local=True)
    path, sha = segment(tmp_path, "part-2/agent-video-0001.webm")

    with pytest.raises(UploadFailed, match=r"sess2/part-2/agent-video-0001\.webm"):
        await uploader.upload_segment(
            "sess2", path, sha, "card_opening", RECORDED, name="part-2/agent-video-0001.webm"
        )
    with pytest.raises(ChecksumMismatch):
        await uploader.upload_segment("sess2", path, "0" * 64, "card_opening", RECORDED)
    await uploader.close()

    assert path.exists() and uploader.pending() == 0
    with pytest.raises(StorageError, match="closed"):
        await uploader.upload_segment("sess2", path, sha, "card_opening", RECORDED)


async def test_uploader_finishes_uploads_whose_caller_was_cancelled(
    make_store: MakeStore, tmp_path: Path
) -> None:
    uploader = Uploader(make_store(), concurrency=1)
    path, sha = segment(tmp_path)
    task = asyncio.create_task(
        uploader.upload_segment("sess3", path, sha, "card_opening", RECORDED)
    )
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await uploader.close()
    assert uploader.pending() == 0
    assert make_store().confirm("sess3/kiosk-video-0001.webm", sha).sha256 == sha


def test_uploader_will_not_delete_the_only_copy(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="only copy"):
        Uploader(LocalStore(tmp_path), delete_local=True)
