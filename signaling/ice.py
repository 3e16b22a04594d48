"""STUN and TURN: the servers every peer connection is given, with TURN credentials.

The STUN and TURN servers are configured once (``Settings.stun_urls``, ``turn_urls``,
``turn_secret``) and handed to every party: each kiosk and agent in its ``joined``
message, with TURN credentials of its own, and the server's relay for each call. The
credentials follow the TURN REST API scheme that coturn implements as
``use-auth-secret``: the username is ``"<expiry, unix seconds>:<user>"`` and the password
is ``base64(HMAC-SHA1(secret, username))``, so the TURN server checks them with the
shared secret alone and refuses them after the expiry. ``<user>`` is a role and an
opaque connection id, never a person's name.

Nothing configured means no ICE server at all: aiortc, given no configuration, would
use a public STUN server (``stun.l.google.com``) that a bank's network cannot reach and
must not be told about, so every ``RTCPeerConnection`` here is made with an explicit
``RTCConfiguration``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy

from .errors import ProtocolError

#: The URL schemes of ICE servers (RFC 7064 and RFC 7065).
STUN_SCHEMES: Final = ("stun:", "stuns:")
TURN_SCHEMES: Final = ("turn:", "turns:")
#: What a page or client may be told to use: every candidate, or relayed ones only.
TRANSPORT_POLICIES: Final = ("all", "relay")
#: At most this many ICE servers are accepted in a ``joined`` message.
MAX_SERVERS: Final = 8


class IceConfigError(ValueError):
    """The STUN/TURN configuration makes no sense (a bad URL, TURN without a secret).

    Raised when the server is configured (``Settings`` turns it into a ``SettingsError``),
    never sent to a client: not a ``SignalingError``.
    """


def turn_credentials(secret: str, user: str, ttl_s: int, now: float) -> tuple[str, str]:
    """The TURN REST API username and password of ``user`` until ``now + ttl_s``."""
    username = f"{int(now) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class IceServer:
    """One entry of a peer connection's ``iceServers``, as pages and aiortc take it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The browser's ``RTCIceServer`` dictionary (no null username or credential)."""
        data: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            data["username"] = self.username
        if self.credential is not None:
            data["credential"] = self.credential
        return data

    def to_aiortc(self) -> RTCIceServer:
        """aiortc's ``RTCIceServer``."""
        return RTCIceServer(list(self.urls), self.username, self.credential)


@dataclass(frozen=True)
class IceServers:
    """The configured STUN and TURN servers, and fresh credentials for each user."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    #: The secret shared with the TURN server (coturn's ``static-auth-secret``).
    secret: str | None = field(default=None, repr=False)
    #: How long a user's TURN credentials are valid (seconds).
    ttl_s: int = 3600
    #: What the pages and clients are told: ``all`` candidates, or ``relay`` (TURN only).
    transport_policy: str = "all"

    def __post_init__(self) -> None:
        for url in self.stun_urls:
            if not url.startswith(STUN_SCHEMES):
                raise IceConfigError(
                    f"a STUN server's URL starts with stun: or stuns:, not {url!r}"
                )
        for url in self.turn_urls:
            if not url.startswith(TURN_SCHEMES):
                raise IceConfigError(
                    f"a TURN server's URL starts with turn: or turns:, not {url!r}"
                )
        if self.turn_urls and not self.secret:
            raise IceConfigError("TURN servers need the secret shared with them (turn_secret)")
        if self.ttl_s <= 0:
            raise IceConfigError(f"turn_ttl_s must be positive, got {self.ttl_s}")
        if self.transport_policy not in TRANSPORT_POLICIES:
            raise IceConfigError(
                f"ice_transport_policy must be all or relay, not {self.transport_policy!r}"
            )
        if self.transport_policy == "relay" and not self.turn_urls:
            raise IceConfigError("ice_transport_policy relay needs TURN servers (turn_urls)")

    def for_user(self, user: str, now: float | None = None) -> list[IceServer]:
        """The servers for ``user`` (a role and an opaque id), TURN with fresh credentials."""
        servers = [IceServer(self.stun_urls)] if self.stun_urls else []
        if self.turn_urls:
            assert self.secret is not None  # __post_init__ makes sure
            when = time.time() if now is None else now
            username, password = turn_credentials(self.secret, user, self.ttl_s, when)
            servers.append(IceServer(self.turn_urls, username, password))
        return servers

    def for_party(self, role: str, connection_id: str) -> list[dict[str, Any]]:
        """A kiosk's or agent's servers as ``joined`` and ``matched`` carry them: its TURN
        user is its role and its connection's opaque id, never the name it joined as."""
        return [server.to_json() for server in self.for_user(f"{role}-{connection_id}")]

    def relay_configuration(self, user: str) -> RTCConfiguration:
        """The server relay's configuration: these servers only (all candidates), never a
        public default."""
        return RTCConfiguration(iceServers=[s.to_aiortc() for s in self.for_user(user)])


def client_configuration(servers: Sequence[Any], transport_policy: str) -> RTCConfiguration:
    """An aiortc client's configuration from what ``joined`` said (ProtocolError if bad)."""
    if len(servers) > MAX_SERVERS:
        raise ProtocolError(f"more than {MAX_SERVERS} ICE servers", message_type="joined")
    if transport_policy not in TRANSPORT_POLICIES:
        raise ProtocolError(
            f"unknown ice_transport_policy {transport_policy!r}", message_type="joined"
        )
    return RTCConfiguration(
        iceServers=[_parse_server(server).to_aiortc() for server in servers],
        iceTransportPolicy=RTCIceTransportPolicy(transport_policy),
    )


def _parse_server(data: Any) -> IceServer:
    if not isinstance(data, Mapping):
        raise ProtocolError("an ICE server is an object", message_type="joined")
    urls, username, credential = data.get("urls"), data.get("username"), data.get("credential")
    if (
        not isinstance(urls, list)
        or not urls
        or not all(isinstance(u, str) and u.startswith(STUN_SCHEMES + TURN_SCHEMES) for u in urls)
    ):
        raise ProtocolError("an ICE server's urls are stun:/turn: URLs", message_type="joined")
    if not all(v is None or isinstance(v, str) for v in (username, credential)):
        raise ProtocolError(
            "an ICE server's username and credential are text", message_type="joined"
        )
    return IceServer(tuple(urls), username, credential)
