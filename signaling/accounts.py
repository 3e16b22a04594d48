"""Sign-ins checked against the database, throttled, each written to the access log.

The pages do not reach into storage for this: the kiosk page is given a
``DeviceEnrolment`` (see ``signaling.webauth``) and this is the one the server uses;
the console's sign-in form calls ``staff_sign_in``. Every attempt passes the
``SignInThrottle`` first: a refused one is answered ``TooManyAttempts`` without any check
(no argon2 work) and without a log row; the failure that starts a burst is logged once,
marked ``throttled``, instead of one hash-chained row per guess. The sign-ins themselves
are kept in the database (``DatabaseWebSessions``): a restart signs nobody out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from common import Role
from storage import Database, access_log, web_session_key

from .throttle import WINDOW_S, SignInThrottle, account_key, address_key
from .webauth import WebUser

#: The largest token or cookie value looked up (both are 43 characters).
MAX_TOKEN = 200
#: The longest password checked (argon2 of a huge one is work for nothing).
MAX_PASSWORD = 1000


async def _log_failure(db: Database, actor: str, where: str, burst: bool) -> None:
    detail = {"throttled": True, "for_s": int(WINDOW_S)} if burst else None
    await access_log.append(db, actor, "unknown", "login_failed", where, detail)


async def staff_sign_in(
    db: Database, throttle: SignInThrottle, name: str, password: str, address: str | None
) -> WebUser | None:
    """The member of staff ``name`` if ``password`` is theirs (access-logged), else None.

    Raises ``TooManyAttempts`` when ``name`` or ``address`` is throttled.
    """
    keys = (address_key(address), account_key(name))
    burst = await throttle.begin(keys)
    credential = None
    if name and password and len(password) <= MAX_PASSWORD:
        credential = await db.check_password(name, password)
    if credential is None or str(credential.role) not in Role.staff():
        # The same answer for an unknown name and a wrong password.
        await _log_failure(db, name[:100] or "?", "console", burst)
        return None
    await throttle.succeeded(keys)
    user = WebUser(credential.name, Role(credential.role), credential.branch)
    await access_log.append(db, user.name, user.role, "login", "console")
    return user


class DatabaseEnrolment:
    """Kiosk devices enrolled by their device token, as the database knows them."""

    def __init__(self, db: Database, throttle: SignInThrottle) -> None:
        self._db = db
        self._throttle = throttle

    async def enrol(self, token: str, address: str | None) -> WebUser | None:
        """The kiosk device whose token this is (access-logged); None for any other token.

        Throttled per address (``TooManyAttempts``): a wrong token names no account.
        """
        keys = (address_key(address),)
        burst = await self._throttle.begin(keys)
        credential = None
        if token and len(token) <= MAX_TOKEN:
            credential = await self._db.authenticate(token)
        if credential is None or str(credential.role) != Role.KIOSK:
            # A staff token is refused like an unknown one: the kiosk page enrols devices only.
            await _log_failure(self._db, "?", "kiosk", burst)
            return None
        await self._throttle.succeeded(keys)
        user = WebUser(credential.name, Role.KIOSK, credential.branch)
        await access_log.append(self._db, user.name, user.role, "login", "kiosk")
        return user


class DatabaseWebSessions:
    """Web sessions kept in the database (see ``storage.web_sessions``): they outlive a restart.

    Every node finds them, and a revocation or sign-out made on any node ends them.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: WebUser) -> str:
        """Store a sign-in of ``user`` and return the cookie value that stands for it."""
        return await self._db.start_web_session(user.role, user.name, user.csrf, datetime.now(UTC))

    async def get(self, cookie: str | None) -> WebUser | None:
        """The user behind ``cookie``, if it stands for a live sign-in (which it extends)."""
        if not cookie or len(cookie) > MAX_TOKEN:
            return None
        found = await self._db.use_web_session(web_session_key(cookie), datetime.now(UTC))
        if found is None:
            return None
        return WebUser(found.name, found.role, found.branch, csrf=found.csrf, session=found.key)

    async def drop(self, cookie: str | None) -> None:
        """Forget a cookie value (sign-out)."""
        if cookie and len(cookie) <= MAX_TOKEN:
            await self._db.end_web_session(web_session_key(cookie))
