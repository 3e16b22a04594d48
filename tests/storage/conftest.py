"""Fixtures for the storage tests: a started Database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage import Database, PersonalData, normalise_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Target:
    """Where a test's database lives: a URL and, on PostgreSQL, its private schema."""

    url: str
    schema: str | None = None
    #: One personal-data key per target, so a reopened Database opens what it sealed.
    personal: PersonalData = field(default_factory=PersonalData.ephemeral)

    def database(self) -> Database:
        """A new (not yet started) Database on this target."""
        return Database(self.url, schema=self.schema, personal=self.personal)


async def _execute(url: str, statement: str) -> None:
    engine = create_async_engine(normalise_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_target() -> AsyncIterator[Target]:
    """A fresh schema on the test PostgreSQL server, dropped afterwards."""
    url = os.environ.get("DUALREC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    schema = f"test_{uuid.uuid4().hex}"
    try:
        await _execute(url, f'CREATE SCHEMA "{schema}"')
    except (OSError, sa_exc.SQLAlchemyError) as exc:
        shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
        reason = f"PostgreSQL unreachable at {shown}: {type(exc).__name__}: {exc}"
        if os.environ.get("DUALREC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (DUALREC_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    try:
        yield Target(url, schema)
    finally:
        await _execute(url, f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """The database target of each backend in turn."""
    if request.param == "sqlite":
        return Target(f"sqlite:///{tmp_path / 'dualrec.db'}")
    pg: Target = request.getfixturevalue("postgres_target")
    return pg


@pytest.fixture
def new_database(target: Target) -> Callable[[], Database]:
    """Make unstarted Databases on the test's store, e.g. to reopen it after a crash."""
    return target.database


@pytest.fixture
async def db(target: Target) -> AsyncIterator[Database]:
    """A started Database on each backend, closed after the test."""
    async with target.database() as database:
        yield database
