"""The hash-chained access log on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage import Database, StorageError, normalise_url
from storage.access_log import (
    GENESIS_HASH,
    AccessAction,
    LogReport,
    append,
    entries,
    verify,
)
from tests.storage.conftest import Target


@pytest.fixture
async def intruder(target: Target) -> AsyncIterator[AsyncEngine]:
    """A second engine on the test's database, used to tamper with the rows directly."""
    args: dict[str, Any] = {}
    if target.schema is not None:
        args["server_settings"] = {"search_path": target.schema}
    engine = create_async_engine(normalise_url(target.url), connect_args=args, poolclass=NullPool)
    yield engine
    await engine.dispose()


async def tamper(engine: AsyncEngine, *statements: str) -> None:
    """Run SQL statements in one transaction, as someone with database access would."""
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def fill(db: Database, count: int) -> None:
    """Append ``count`` replays of sessions s1, s2, ..."""
    for n in range(1, count + 1):
        await append(db, "auditor-1", "auditor", "replay", f"s{n}", {"file": n})


async def test_append_chains_entries(db: Database) -> None:
    before = datetime.now(UTC)
    first = await append(db, "auditor-1", "auditor", "search", "branch=central", {"hits": 3})
    second = await append(db, "admin-1", "admin", AccessAction.LEGAL_HOLD, "s1", {"case": "D-7"})

    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.hash == first.computed_hash() and len(first.hash) == 64
    assert before <= first.at <= second.at <= datetime.now(UTC)
    assert first.at.utcoffset() == timedelta(0)
    assert await entries(db) == [first, second]
    assert await entries(db, target="s1") == [second]
    assert await verify(db) == LogReport(True, 2, None, None, 2, second.hash)


async def test_empty_log_verifies(db: Database) -> None:
    assert await verify(db) == LogReport(True, 0, None, None, 0, GENESIS_HASH)


async def test_concurrent_appends_stay_gapless(db: Database) -> None:
    made = await asyncio.gather(
        *(append(db, f"agent-{n}", "agent", "replay", f"s{n}", {"n": n}) for n in range(50))
    )

    assert sorted(entry.seq for entry in made) == list(range(1, 51))
    stored = await entries(db, limit=100)
    assert [entry.seq for entry in stored] == list(range(1, 51))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    report = await verify(db)
    assert report.ok and report.entries == 50 and report.last_seq == 50


async def test_edited_detail_is_found(db: Database, intruder: AsyncEngine) -> None:
    await fill(db, 10)
    await tamper(intruder, """UPDATE access_log SET detail = '{"file": 99}' WHERE seq = 7""")

    report = await verify(db)

    assert not report.ok
    assert report.first_broken == 7
    assert report.problem is not None and "altered" in report.problem
    assert (report.last_seq, report.entries) == (6, 7)


async def test_deleted_row_is_found(db: Database, intruder: AsyncEngine) -> None:
    await fill(db, 10)
    await tamper(intruder, "DELETE FROM access_log WHERE seq = 5")

    report = await verify(db)

    assert (report.ok, report.first_broken) == (False, 5)
    assert report.problem is not None and "entry 5 is missing" in report.problem


async def test_swapped_rows_are_found(db: Database, intruder: AsyncEngine) -> None:
    await fill(db, 10)
    await tamper(
        intruder,
        "UPDATE access_log SET seq = 1000 WHERE seq = 3",
        "UPDATE access_log SET seq = 3 WHERE seq = 8",
        "UPDATE access_log SET seq = 8 WHERE seq = 1000",
    )

    report = await verify(db)

    assert (report.ok, report.first_broken) == (False, 3)
    assert report.problem is not None and "does not follow entry 2" in report.problem


async def test_rehashed_forgery_is_found_at_the_next_entry(
    db: Database, intruder: AsyncEngine
) -> None:
    await fill(db, 4)
    forged = (await entries(db))[1]
    fake = type(forged)(**{**forged.__dict__, "target": "s-other", "hash": ""})
    await tamper(
        intruder,
        f"UPDATE access_log SET target = 's-other', hash = '{fake.computed_hash()}' WHERE seq = 2",
    )

    report = await verify(db)

    assert (report.ok, report.first_broken) == (False, 3)
    assert report.problem is not None and "re-hashed" in report.problem


async def test_bad_input_is_refused(db: Database) -> None:
    with pytest.raises(StorageError, match="invalid access action 'peek'"):
        await append(db, "a", "auditor", "peek", "s1")
    with pytest.raises(StorageError, match="actor"):
        await append(db, " ", "auditor", "replay", "s1")
    with pytest.raises(StorageError, match="plain JSON"):
        await append(db, "a", "auditor", "replay", "s1", {"x": float("nan")})
    with pytest.raises(StorageError, match="plain JSON"):
        await append(db, "a", "auditor", "replay", "s1", {"when": datetime.now(UTC)})
    assert await entries(db) == []
