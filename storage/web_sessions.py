"""Signed-in browsers kept in the database: a restart, or another node, signs nobody out.

A web session is a row keyed by the SHA-256 of the random cookie value the browser
holds (the value itself is never stored). Its expiry slides: each use moves it to
``idle`` from now, never past ``longest`` after the sign-in. "Last seen" is written at
most every ``TOUCH_EVERY``, not on every request (see there). A session is found only
while its credential is unrevoked, so a revocation made anywhere ends it at once;
``revoke_credential`` also deletes its rows.
"""

from __future__ import annotations

import hashlib
import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common import Role

from .errors import NotFound
from .models import Credential, WebSession, parse_enum


@dataclass(frozen=True, slots=True)
class Lifetime:
    """How long a web session lasts: ``idle`` after its last use, ``longest`` in all."""

    idle: timedelta
    longest: timedelta

    def expiry(self, created: datetime, now: datetime) -> datetime:
        """When a session made at ``created`` and used at ``now`` expires."""
        return min(now + self.idle, created + self.longest)


#: Staff: today's 8 hours idle, and signed out 12 hours after signing in (a long shift).
STAFF_LIFETIME = Lifetime(idle=timedelta(hours=8), longest=timedelta(hours=12))
#: A kiosk page: today's 30 days idle; enrolled again (the device token) after 90 days.
KIOSK_LIFETIME = Lifetime(idle=timedelta(days=30), longest=timedelta(days=90))
#: "Last seen" (and the expiry it slides) is written at most this often per session. A
#: page makes many requests a minute (the supervisor's polling, the auditor's media
#: ranges, every socket step rechecked); one UPDATE a minute per signed-in browser is a
#: bounded write load for the database, and an expiry up to a minute early is nothing
#: against idle limits of 8 hours and 30 days.
TOUCH_EVERY = timedelta(seconds=60)


def lifetime_of(kiosk: bool) -> Lifetime:
    """The lifetime of a kiosk's web session, or of a member of staff's."""
    return KIOSK_LIFETIME if kiosk else STAFF_LIFETIME


def web_session_key(cookie: str) -> str:
    """What a cookie value is stored and found as: its SHA-256, in hex."""
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WebSessionView:
    """A live web session and whose it is."""

    key: str
    role: Role
    name: str
    branch: str | None
    csrf: str
    created_at: datetime
    expires_at: datetime


class WebSessionRecords:
    """The web sessions half of Database (a mixin: Database provides the transactions)."""

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        raise NotImplementedError

    async def start_web_session(self, role: str, name: str, csrf: str, now: datetime) -> str:
        """Sign the unrevoked credential ``role``/``name`` in; returns the cookie value.

        Sessions expired by ``now`` (anyone's) are deleted on the way: sign-ins are rare
        enough, and the expiry is indexed.
        """
        checked_role = parse_enum(Role, role, "role")
        cookie = secrets.token_urlsafe(32)
        async with self._transaction() as session:
            credential_id = await session.scalar(
                select(Credential.id).where(
                    Credential.role == checked_role,
                    Credential.name == name,
                    Credential.revoked_at.is_(None),
                )
            )
            if credential_id is None:
                raise NotFound(f"unrevoked {role} credential", name)
            await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            kiosk = checked_role == Role.KIOSK
            session.add(
                WebSession(
                    cookie_sha256=web_session_key(cookie),
                    credential_id=credential_id,
                    kiosk=kiosk,
                    csrf=csrf,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=lifetime_of(kiosk).expiry(now, now),
                )
            )
        return cookie

    async def use_web_session(self, key: str, now: datetime) -> WebSessionView | None:
        """The live session stored as ``key``, its expiry slid if due; None if there is none.

        None too when it expired or its credential was revoked, wherever that was done.
        """
        async with self._transaction() as session:
            row = (
                await session.execute(
                    select(WebSession, Credential)
                    .join(Credential, WebSession.credential_id == Credential.id)
                    .where(
                        WebSession.cookie_sha256 == key,
                        WebSession.expires_at > now,
                        Credential.revoked_at.is_(None),
                    )
                )
            ).first()
            if row is None:
                return None
            web, credential = row
            expires_at = web.expires_at
            if now - web.last_seen_at >= TOUCH_EVERY:
                expires_at = lifetime_of(web.kiosk).expiry(web.created_at, now)
                await session.execute(
                    update(WebSession)
                    .where(WebSession.id == web.id)
                    .values(last_seen_at=now, expires_at=expires_at)
                )
            return WebSessionView(
                key,
                credential.role,
                credential.name,
                credential.branch,
                web.csrf,
                web.created_at,
                expires_at,
            )

    async def end_web_session(self, key: str) -> None:
        """Delete the session stored as ``key`` (signed out); nothing if there is none."""
        async with self._transaction() as session:
            await session.execute(delete(WebSession).where(WebSession.cookie_sha256 == key))
