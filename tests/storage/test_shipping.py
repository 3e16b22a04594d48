"""The RecordingShipper against a real S3 endpoint (moto's server) and a real SQLite database."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common import RecordingLayout
from storage import Database
from storage.retention import RetentionPolicy
from storage.s3store import S3Store
from storage.shipping import RecordingRef, RecordingShipper
from tests.storage.s3server import (
    FlakyProxy,
    bucket,
    flaky_proxy,
    make_store,
    s3_endpoint,
    s3_url,
)

__all__ = ["bucket", "flaky_proxy", "make_store", "s3_endpoint", "s3_url"]

STARTED = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)
POLICY = RetentionPolicy.load()
MakeStore = Callable[..., S3Store]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A started SQLite database holding one ended wealth_purchase session, ``s1``."""
    async with Database(f"sqlite:///{tmp_path / 'dualrec.db'}") as database:
        await database.create_session(
            id="s1",
            service="wealth_purchase",
            branch="BJ-001",
            kiosk_name="K1",
            flow="wealth_purchase",
            workflow_state="identity_check",
            created_at=STARTED - timedelta(seconds=30),
        )
        await database.start_session("s1", agent_name="A1", started_at=STARTED, recording_dir="s1")
        yield database


def write(folder: Path, name: str, size: int = 40_000) -> str:
    """A file of random bytes; its SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    (folder / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def ceil_second(moment: datetime) -> datetime:
    """As S3 keeps retention dates: rounded up to the second."""
    whole = moment.replace(microsecond=0)
    return whole + timedelta(seconds=1) if moment.microsecond else whole


async def test_a_restart_ships_what_the_last_run_left(
    make_store: MakeStore, db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    sealed = {n: write(root / "s1", n) for n in ("kiosk-video-0000.webm", "manifest.json")}
    write(root / "s1", ".manifest.json.1.2.tmp")  # a torn atomic write: never shipped
    open_part = {"agent-audio-0000.webm": write(root / "s1" / "part-2", "agent-audio-0000.webm")}
    store = make_store()
    shipper = RecordingShipper(store, db, root, retry_s=0.05, retry_max_s=0.2)
    await shipper.start()
    assert await shipper.drain(timeout=60)
    await shipper.close()

    until = ceil_second(POLICY.retain_until("wealth_purchase", STARTED))
    assert until.year == STARTED.year + 10
    for name, sha in sealed.items():
        stored = store.confirm(f"s1/{name}", sha)
        assert stored.retain_until == until
        assert not (root / "s1" / name).exists()  # sealed part: confirmed, then deleted
    assert not store.exists("s1/.manifest.json.1.2.tmp")
    # Part 2 has no signed manifest: uploaded, but kept until it is closed.
    assert store.confirm("s1/part-2/agent-audio-0000.webm", open_part["agent-audio-0000.webm"])
    assert (root / "s1" / "part-2" / "agent-audio-0000.webm").exists()
    assert (await db.get_session("s1")).session.retain_until is not None


async def test_live_segments_retry_and_wait_for_the_seal(
    make_store: MakeStore, flaky_proxy: Callable[..., FlakyProxy], db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    proxy = flaky_proxy(fail_first=4)
    store = make_store(endpoint_url=proxy.url, attempts=2)
    shipper = RecordingShipper(store, db, root, retry_s=0.05, retry_max_s=0.2)
    await shipper.start()
    part = RecordingRef(RecordingLayout("s1"), "card_opening", STARTED)
    good = write(root / "s1", "kiosk-audio-0000.webm")
    write(root / "s1", "kiosk-video-0000.webm")
    shipper.ship(part, "kiosk-audio-0000.webm", good)
    shipper.ship(part, "kiosk-video-0000.webm", "0" * 64)  # not what the recorder wrote
    assert shipper.pending == 2
    assert await shipper.drain(timeout=60)

    assert shipper.stats.retried >= 1 and proxy.failed == 4
    assert make_store().confirm("s1/kiosk-audio-0000.webm", good).retain_until == ceil_second(
        POLICY.retain_until("card_opening", STARTED)
    )
    assert (root / "s1" / "kiosk-audio-0000.webm").exists()  # the part is still open
    assert shipper.stats.failed == 1 and not make_store().exists("s1/kiosk-video-0000.webm")

    shipper.seal(part)
    assert await shipper.drain(timeout=60)
    await shipper.close()
    assert not (root / "s1" / "kiosk-audio-0000.webm").exists()
    assert (root / "s1" / "kiosk-video-0000.webm").exists()  # never confirmed: kept


async def test_closing_during_an_outage_leaves_the_files_for_the_next_start(
    make_store: MakeStore, flaky_proxy: Callable[..., FlakyProxy], db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    down = flaky_proxy(fail_first=10**9)
    shipper = RecordingShipper(make_store(endpoint_url=down.url, attempts=1), db, root)
    await shipper.start()
    part = RecordingRef(RecordingLayout("s1"), "wealth_purchase", STARTED)
    shas = {n: write(root / "s1", n) for n in ("kiosk-video-0000.webm", "manifest.json")}
    for name, sha in shas.items():
        shipper.ship(part, name, sha)
    shipper.seal(part)
    await asyncio.sleep(0.5)
    began = asyncio.get_running_loop().time()
    await shipper.close(drain_s=20)
    assert asyncio.get_running_loop().time() - began < 10
    assert all((root / "s1" / name).exists() for name in shas)

    again = RecordingShipper(make_store(), db, root, retry_s=0.05, retry_max_s=0.2)
    await again.start()
    assert await again.drain(timeout=60)
    await again.close()
    for name, sha in shas.items():
        assert make_store().confirm(f"s1/{name}", sha).sha256 == sha
        assert not (root / "s1" / name).exists()
