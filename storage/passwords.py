"""The password policy: long enough, not one of the common ones; and one name per person.

The blocklist is ``common_passwords.txt``, shipped in the package (nothing is fetched at
run time). Every place a password is set (``dualrec users add``, the admin page,
``Database.set_password``) goes through ``check_password_strength``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import Conflict, StorageError
from .models import Credential

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000
#: Fewer different characters than this is a pattern, not a password ("abababababab").
MIN_DISTINCT = 5


@cache
def common_passwords() -> frozenset[str]:
    """The blocklist, normalised as ``_normalised`` does."""
    text = files("storage").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(_normalised(line) for line in lines if line and not line.startswith("#"))


def _normalised(password: str) -> str:
    return "".join(password.split()).casefold()


def check_password_strength(password: str) -> None:
    """Raise StorageError unless ``password`` meets the policy (the message says why)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StorageError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters "
            f"(密码至少需要 {MIN_PASSWORD_LENGTH} 个字符)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StorageError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < MIN_DISTINCT or _normalised(password) in common_passwords():
        raise StorageError(
            "this password is too common or too simple: choose another "
            "(此密码过于常见或简单，请另选)"
        )


async def check_name_free(session: AsyncSession, name: str) -> None:
    """Raise Conflict if any credential, of any role, is already called ``name``.

    Sign-in is by name alone, so two accounts of one name would leave one of them unable
    to sign in; a revoked account keeps its name too (the access log names it).
    """
    taken = await session.scalar(select(Credential.role).where(Credential.name == name))
    if taken is not None:
        raise Conflict(
            f"the name {name!r} is already used by {taken.article} account: names are "
            "unique across roles"
        )
