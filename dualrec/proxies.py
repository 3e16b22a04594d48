"""Who the client is behind a reverse proxy: X-Forwarded-* believed from trusted proxies only.

Behind nginx every request comes from nginx's address. Without this, the request log, the
sign-in throttle's per-address key and the limit of sockets per address
(``signaling.sockets``) would count every client as nginx, and ``request.secure`` would be
false behind a proxy that terminates TLS, so cookies would miss ``Secure``.

A request whose peer is one of ``Settings.trusted_proxies`` goes through aiohttp-remotes'
``XForwardedStrict`` for one hop: exactly one X-Forwarded-For address (the shipped nginx
configuration replaces the client's own), which becomes ``request.remote``;
X-Forwarded-Proto becomes ``request.scheme`` (so ``request.secure``) and X-Forwarded-Host
``request.host``. A proxy that forwards a chain of addresses is answered 400; one that
forwards none made the request itself (a health check) and is taken as it is. A request from
any other peer is left as it is: its X-Forwarded-* headers are not believed, whatever they
say.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp_remotes import XForwardedStrict

logger = logging.getLogger(__name__)

#: The client's address as the trusted proxy told it, kept on the request aiohttp logs
#: (its access logger is given the request before any middleware's clone).
CLIENT = web.RequestKey("client", str)


class TrustedProxies:
    """The middleware that believes X-Forwarded-* from the given proxies only."""

    def __init__(self, proxies: Sequence[str]) -> None:
        self.networks: list[IPv4Network | IPv6Network] = [
            ip_network(proxy, strict=False) for proxy in proxies
        ]
        # One hop: nginx at the edge, the node behind it.
        self._strict = XForwardedStrict([self.networks])

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (the connection's own address) is a trusted proxy."""
        if peer is None:
            return False
        try:
            address = ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The request as the client made it, when it came through a trusted proxy."""
        if not self.trusts(request.remote) or hdrs.X_FORWARDED_FOR not in request.headers:
            # Not a proxy: nothing it says is believed. A proxy's own request (nothing
            # forwarded: a health check, a scrape from the proxy's machine) is the proxy's.
            return await handler(request)

        async def forwarded(client_request: web.Request) -> web.StreamResponse:
            if client_request.remote is not None:
                request[CLIENT] = client_request.remote
            return await handler(client_request)

        return await self._strict.middleware(request, forwarded)


def setup_proxies(app: web.Application, proxies: Sequence[str]) -> None:
    """Believe X-Forwarded-* from ``proxies`` in ``app``; nobody's when empty."""
    if not proxies:
        return
    # First, so that every other middleware and handler sees the client, not the proxy.
    app.middlewares.insert(0, TrustedProxies(proxies).middleware)
    logger.info("X-Forwarded-* believed from %s", ", ".join(proxies))
