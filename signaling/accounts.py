"""Sign-ins checked against the database, each written to the access log.

The pages do not reach into storage for this: the kiosk page is given a
``DeviceEnrolment`` (see ``signaling.webauth``) and this is the one the server uses.
"""

from __future__ import annotations

from common import Role
from storage import Database, access_log

from .webauth import WebUser

#: The largest token looked up (tokens are 43 characters).
MAX_TOKEN = 200


class DatabaseEnrolment:
    """Kiosk devices enrolled by their device token, as the database knows them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def enrol(self, token: str) -> WebUser | None:
        """The kiosk device whose token this is (access-logged); None for any other token."""
        credential = None
        if token and len(token) <= MAX_TOKEN:
            credential = await self._db.authenticate(token)
        if credential is None or str(credential.role) != Role.KIOSK:
            # A staff token is refused like an unknown one: the kiosk page enrols devices only.
            await access_log.append(self._db, "?", "unknown", "login_failed", "kiosk")
            return None
        user = WebUser(credential.name, Role.KIOSK, credential.branch)
        await access_log.append(self._db, user.name, user.role, "login", "kiosk")
        return user
