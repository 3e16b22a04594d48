"""Credentials and sign-in: device tokens, staff passwords (argon2id), revocation."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

import argon2
from sqlalchemy import delete, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from common import Role

from .errors import NotFound, StorageError
from .models import Credential, WebSession, parse_enum
from .passwords import check_name_free, check_password_strength
from .views import CredentialView

logger = logging.getLogger(__name__)

# argon2id with the library's (RFC 9106 "low memory") parameters.
_HASHER = argon2.PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone's")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Credentials:
    """The credentials half of Database (a mixin: Database provides the transactions)."""

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        raise NotImplementedError

    async def add_credential(self, role: str, name: str, branch: str | None = None) -> str:
        """Create a credential and return its token; only the token's SHA-256 is stored."""
        checked_role = parse_enum(Role, role, "role")
        if not name.strip():
            raise StorageError("credential name must not be empty")
        token = secrets.token_urlsafe(32)
        async with self._transaction() as session:
            await check_name_free(session, name)
            session.add(
                Credential(
                    token_sha256=_hash_token(token),
                    role=checked_role,
                    name=name,
                    branch=branch,
                    created_at=datetime.now(UTC),
                )
            )
            try:
                await session.flush()
            except sa_exc.IntegrityError as exc:
                raise StorageError(f"a {role} credential named {name!r} already exists") from exc
        logger.info("credential added: %s %r", role, name)
        return token

    async def set_password(self, role: str, name: str, password: str) -> None:
        """Give a staff member a password for the pages (stored as an argon2id hash)."""
        checked_role = parse_enum(Role, role, "role")
        if checked_role is Role.KIOSK:
            raise StorageError("kiosk devices sign in with their device token, not a password")
        check_password_strength(password)
        hashed = await asyncio.to_thread(_HASHER.hash, password)
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(Credential.role == checked_role, Credential.name == name)
            )
            if credential is None:
                raise NotFound(f"{role} credential", name)
            credential.password_hash = hashed
        logger.info("password set: %s %r", role, name)

    async def check_password(self, name: str, password: str) -> CredentialView | None:
        """Return the unrevoked staff credential ``name`` if ``password`` is its password.

        The hash is checked even for an unknown name, so that timing does not tell which
        names exist.
        """
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(
                    Credential.name == name,
                    Credential.role != Role.KIOSK,
                    Credential.revoked_at.is_(None),
                    Credential.password_hash.is_not(None),
                )
            )
            hashed = _DUMMY_HASH if credential is None else credential.password_hash
            view = None if credential is None else credential.view()
        assert hashed is not None
        try:
            await asyncio.to_thread(_HASHER.verify, hashed, password)
        except argon2.exceptions.VerificationError:
            return None
        except argon2.exceptions.InvalidHashError as exc:
            raise StorageError(f"the stored password hash of {name!r} is not valid") from exc
        return view

    async def authenticate(self, token: str) -> CredentialView | None:
        """Return the credential of an unrevoked token, or None."""
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(
                    Credential.token_sha256 == _hash_token(token),
                    Credential.revoked_at.is_(None),
                )
            )
            return None if credential is None else credential.view()

    async def revoke_credential(self, role: str, name: str) -> None:
        """Revoke a credential and sign it out of every page (its web sessions deleted).

        Revoking twice keeps the first revocation time.
        """
        checked_role = parse_enum(Role, role, "role")
        async with self._transaction() as session:
            credential = await session.scalar(
                select(Credential).where(Credential.role == checked_role, Credential.name == name)
            )
            if credential is None:
                raise NotFound(f"{role} credential", name)
            if credential.revoked_at is None:
                credential.revoked_at = datetime.now(UTC)
            await session.execute(
                delete(WebSession).where(WebSession.credential_id == credential.id)
            )
        logger.info("credential revoked: %s %r", role, name)
