"""The open signalling sockets: who holds each, limits on them, and closing them by account.

``signaling.server`` registers every socket here as it opens and tells it who joined
on it. Sign-out closes the sockets the signed-out page opened; revoking an account closes
every socket that account joined, at once. An account revoked or a page signed out
elsewhere (another process or node) cannot reach these sockets, so the server also asks
``Credentials`` again before a step that hands a customer to an agent or puts one in
the queue.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from common import BackgroundTasks
from storage import Database

from .errors import SignalingError

if TYPE_CHECKING:  # webauth closes sockets at sign-out, so it imports this module
    from .webauth import WebUser

logger = logging.getLogger(__name__)

#: An unjoined socket is closed after this long.
JOIN_TIMEOUT_S = 10.0
#: Open sockets allowed from one address (a branch's kiosks and agents behind one NAT fit).
MAX_SOCKETS_PER_ADDRESS = 20


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (4000-4999 are the application's own)."""

    GOING_AWAY = 1001
    #: The socket sent no successful ``join`` within ``JOIN_TIMEOUT_S``.
    JOIN_TIMEOUT = 4001
    #: The page that opened the socket signed out.
    SIGNED_OUT = 4002
    #: The account the socket joined as was revoked.
    REVOKED = 4003


class TooManySockets(SignalingError):
    """An address already holds as many open sockets as it may."""

    code = "too_many_sockets"

    def __init__(self, limit: int) -> None:
        super().__init__(f"this address already has {limit} open signalling sockets")
        self.limit = limit


class CredentialRevoked(SignalingError, PermissionError):
    """The account a socket joined as is no longer valid (revoked, or its token is)."""

    code = "unauthorised"

    def __init__(self, role: str, name: str, message_type: str) -> None:
        super().__init__(f'{role} "{name}" is no longer signed in or enrolled: "{message_type}"')
        self.message_type = message_type


@dataclass(eq=False)
class OpenSocket:
    """One open socket: where it comes from, who signed in to its page, who joined on it."""

    address: str
    web_user: WebUser | None
    ws: web.WebSocketResponse | None = None
    role: str | None = None
    name: str = ""
    #: The token it joined with (None: joined by its page's sign-in).
    token: str | None = None

    def held_by(self, role: str, name: str) -> bool:
        """Whether ``role``/``name`` joined on this socket or signed in to its page."""
        page = self.web_user
        return (self.role, self.name) == (role, name) or (
            page is not None and (page.role, page.name) == (role, name)
        )


class Credentials(Protocol):
    """What the server asks before an accept, a request for service or a resume."""

    async def still_valid(self, socket: OpenSocket) -> bool:
        """Whether the credential ``socket`` joined with is still valid."""
        ...


class DatabaseCredentials:
    """Credentials checked again against the database (revocations made anywhere)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def still_valid(self, socket: OpenSocket) -> bool:
        """Whether the token, or the page's sign-in, of ``socket`` is still valid.

        A page's sign-in is valid while its web session lives (not signed out, expired or
        revoked, on any node); the step counts as a use of it.
        """
        if socket.role is None:
            return False
        if socket.token is not None:
            credential = await self._db.authenticate(socket.token)
            return credential is not None and credential.role == socket.role
        page = socket.web_user  # it joined by its page's sign-in
        if page is None or page.session is None:
            return False
        found = await self._db.use_web_session(page.session, datetime.now(UTC))
        return found is not None and (found.role, found.name) == (socket.role, socket.name)


class OpenSockets:
    """Every open signalling socket of this server."""

    def __init__(
        self, *, per_address: int = MAX_SOCKETS_PER_ADDRESS, join_timeout_s: float = JOIN_TIMEOUT_S
    ) -> None:
        self.per_address = per_address
        self.join_timeout_s = join_timeout_s
        self._open: set[OpenSocket] = set()
        self._by_address: Counter[str] = Counter()
        self._closing = BackgroundTasks("socket closing")
        #: Tells the other nodes to close an account's or a sign-in's sockets too.
        self.elsewhere: Callable[[str, dict[str, str]], None] | None = None

    def __len__(self) -> int:
        return len(self._open)

    def open(self, address: str, web_user: WebUser | None) -> OpenSocket:
        """Count a socket from ``address`` in, or raise TooManySockets."""
        if self._by_address[address] >= self.per_address:
            raise TooManySockets(self.per_address)
        self._by_address[address] += 1
        socket = OpenSocket(address, web_user)
        self._open.add(socket)
        return socket

    def forget(self, socket: OpenSocket) -> None:
        """The socket has closed."""
        if socket in self._open:
            self._open.discard(socket)
            self._by_address[socket.address] -= 1
            if self._by_address[socket.address] <= 0:
                del self._by_address[socket.address]

    def close_account(self, role: str, name: str, *, everywhere: bool = True) -> int:
        """Close at once every socket ``role``/``name`` holds (revoked); returns how many.

        With several nodes the other nodes close theirs too (``everywhere``).
        """
        held = [s for s in self._open if s.held_by(role, name)]
        if everywhere and self.elsewhere is not None:
            self.elsewhere("close_account", {"role": role, "name": name})
        return self._close(held, CloseCode.REVOKED, "the account was revoked")

    def close_signed_in(self, user: WebUser) -> int:
        """Close at once the sockets opened by ``user``'s sign-in (signed out), on every node."""
        if self.elsewhere is not None and user.session is not None:
            self.elsewhere("close_signed_in", {"session": user.session})
        return self.close_web_session(user.session) if user.session else 0

    def close_web_session(self, web_session: str) -> int:
        """Close this node's sockets opened by the sign-in ``web_session``."""
        held = [s for s in self._open if s.web_user and s.web_user.session == web_session]
        return self._close(held, CloseCode.SIGNED_OUT, "signed out")

    def closed_elsewhere(self, kind: str, what: dict[str, str]) -> None:
        """Another node revoked an account or signed a page out: close ours."""
        if kind == "close_account":
            self.close_account(what.get("role", ""), what.get("name", ""), everywhere=False)
        elif kind == "close_signed_in" and what.get("session"):
            self.close_web_session(what["session"])

    def hand_over(self, role: str, name: str) -> int:
        """Close ``role``/``name``'s sockets so that it reconnects to another node."""
        held = [s for s in self._open if s.held_by(role, name)]
        return self._close(held, CloseCode.GOING_AWAY, "moving to another node")

    def _close(self, sockets: list[OpenSocket], code: CloseCode, reason: str) -> int:
        for socket in sockets:
            # Forgotten now, so that it no longer counts, even before its close is sent.
            self.forget(socket)
            if socket.ws is not None and not socket.ws.closed:
                logger.info("%s:%s socket closed: %s", socket.role, socket.name or "?", reason)
                self._closing.spawn(socket.ws.close(code=code, message=reason.encode()))
        return len(sockets)

    async def close_all(self) -> None:
        """Close every socket (the server is stopping)."""
        for socket in list(self._open):
            if socket.ws is not None:
                await socket.ws.close(code=CloseCode.GOING_AWAY, message=b"server shutting down")
        await self._closing.join()


#: The server's open sockets (``signaling.server`` fills it; sign-out and revocation use it).
OPEN_SOCKETS = web.AppKey("open_sockets", OpenSockets)
