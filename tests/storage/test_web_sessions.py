"""Web sessions in the database, on SQLite and PostgreSQL: hashed, sliding, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage import Database, NotFound, web_session_key
from storage.models import Credential, WebSession
from storage.web_sessions import KIOSK_LIFETIME, STAFF_LIFETIME, TOUCH_EVERY

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


async def stored(db: Database) -> list[WebSession]:
    async with db.sessions() as session:
        return list((await session.scalars(select(WebSession))).all())


async def test_only_the_cookies_hash_is_stored(db: Database) -> None:
    await db.add_credential("agent", "ann")
    cookie = await db.start_web_session("agent", "ann", "the csrf", T0)
    [row] = await stored(db)
    assert row.cookie_sha256 == web_session_key(cookie) != cookie
    assert cookie not in {str(getattr(row, c.key)) for c in WebSession.__table__.columns}
    assert (row.kiosk, row.csrf, row.expires_at) == (False, "the csrf", T0 + STAFF_LIFETIME.idle)
    found = await db.use_web_session(web_session_key(cookie), T0)
    assert found is not None
    assert (found.role, found.name, found.csrf) == ("agent", "ann", "the csrf")
    assert await db.use_web_session(cookie, T0) is None  # the value itself finds nothing


async def test_expiry_slides_with_use_written_at_most_once_a_minute(db: Database) -> None:
    await db.add_credential("kiosk", "K1", "BJ-001")
    key = web_session_key(await db.start_web_session("kiosk", "K1", "c", T0))
    assert (await stored(db))[0].expires_at == T0 + KIOSK_LIFETIME.idle
    soon = T0 + TOUCH_EVERY - timedelta(seconds=1)
    assert await db.use_web_session(key, soon) is not None
    assert (await stored(db))[0].last_seen_at == T0  # not written: too soon
    later = T0 + TOUCH_EVERY
    found = await db.use_web_session(key, later)
    assert found is not None and found.expires_at == later + KIOSK_LIFETIME.idle
    [row] = await stored(db)
    assert (row.last_seen_at, row.expires_at) == (later, later + KIOSK_LIFETIME.idle)
    # Idle too long: gone, however it was used before.
    assert await db.use_web_session(key, later + KIOSK_LIFETIME.idle) is None


async def test_used_all_the_time_a_sign_in_still_ends_at_its_longest(db: Database) -> None:
    await db.add_credential("supervisor", "zhang")
    key = web_session_key(await db.start_web_session("supervisor", "zhang", "c", T0))
    now = T0
    while now < T0 + STAFF_LIFETIME.longest - timedelta(hours=1):
        now += timedelta(hours=1)
        found = await db.use_web_session(key, now)
        assert found is not None
        assert found.expires_at == min(now + STAFF_LIFETIME.idle, T0 + STAFF_LIFETIME.longest)
    assert await db.use_web_session(key, T0 + STAFF_LIFETIME.longest) is None


async def test_sign_out_and_revocation_delete_the_rows(db: Database) -> None:
    await db.add_credential("agent", "ann")
    await db.add_credential("agent", "bob")
    first = web_session_key(await db.start_web_session("agent", "ann", "c1", T0))
    second = web_session_key(await db.start_web_session("agent", "ann", "c2", T0))
    bobs = web_session_key(await db.start_web_session("agent", "bob", "c3", T0))
    await db.end_web_session(first)
    assert await db.use_web_session(first, T0) is None
    assert await db.use_web_session(second, T0) is not None
    await db.revoke_credential("agent", "ann")
    assert await db.use_web_session(second, T0) is None
    assert [row.cookie_sha256 for row in await stored(db)] == [bobs]
    with pytest.raises(NotFound):
        await db.start_web_session("agent", "ann", "c4", T0)


async def test_a_revocation_made_in_the_table_alone_ends_the_session(db: Database) -> None:
    """Another tool (or an older version) set revoked_at and left the rows: still refused."""
    await db.add_credential("auditor", "lin")
    key = web_session_key(await db.start_web_session("auditor", "lin", "c", T0))
    async with db.sessions() as session, session.begin():
        credential = await session.scalar(select(Credential).where(Credential.name == "lin"))
        assert credential is not None
        credential.revoked_at = T0
    assert len(await stored(db)) == 1
    assert await db.use_web_session(key, T0) is None


async def test_expired_sessions_are_cleared_at_the_next_sign_in(db: Database) -> None:
    await db.add_credential("agent", "ann")
    await db.start_web_session("agent", "ann", "old", T0)
    tomorrow = T0 + STAFF_LIFETIME.longest
    fresh = await db.start_web_session("agent", "ann", "new", tomorrow)
    assert [row.cookie_sha256 for row in await stored(db)] == [web_session_key(fresh)]
