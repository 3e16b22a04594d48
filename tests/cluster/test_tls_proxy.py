"""nginx terminating TLS in front of a plain-HTTP node (the shipped configuration, its
locations served on ``listen ... ssl`` with a certificate the test makes), the node trusting
nginx: the browser's https reaches the node as X-Forwarded-Proto, so its cookies are Secure,
the Origin check passes for the https page, and the signalling socket runs over wss."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from signaling.webauth import KIOSK_COOKIE
from tests.certificates import Certificate, make_certificate
from tests.cluster.conftest import SharedDatabase
from tests.cluster.harness import Balancer, Cluster
from tests.cluster.test_load_balancer import CLIENT, behind_nginx
from tests.e2e.test_durable_sign_ins import queued
from tests.e2e.test_socket_revocation import joined


@dataclass
class TlsBalancer(Balancer):
    """nginx on the shipped configuration, listening with TLS."""

    certificate: Certificate | None = field(default=None, kw_only=True)

    @property
    def url(self) -> str:
        """The https address browsers use."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The signalling endpoint over wss."""
        return f"wss://127.0.0.1:{self.port}/ws"

    def configure(self, upstreams: Sequence[str]) -> Path:
        """The shipped site, its ``listen`` turned to TLS as the file's TLS example says."""
        assert self.certificate is not None
        main = super().configure(upstreams)
        site = self.prefix / "dualrec.conf"
        listen = f"    listen 127.0.0.1:{self.port};\n"
        text = site.read_text("utf-8")
        assert text.count(listen) == 1
        tls = (
            f"    listen 127.0.0.1:{self.port} ssl;\n"
            f"    ssl_certificate {self.certificate.cert};\n"
            f"    ssl_certificate_key {self.certificate.key};\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        )
        site.write_text(text.replace(listen, tls), "utf-8")
        return main


@pytest.fixture
async def tls_balanced(cluster: Cluster, tmp_path: Path) -> TlsBalancer:
    """One node (trusting nginx) behind nginx with TLS."""
    node, *_ = await cluster.start_nodes(1, behind_nginx)
    assert cluster.nginx is not None
    certificate = make_certificate(tmp_path / "tls")
    balancer = TlsBalancer(cluster.nginx, tmp_path / "nginx", certificate=certificate)
    cluster.balancer = balancer  # ended, and its logs shown, with the cluster
    await balancer.start([node.address])
    return balancer


async def test_behind_nginx_with_tls_cookies_are_secure_and_the_socket_signs_in(
    cluster: Cluster, tls_balanced: TlsBalancer, shared_database: SharedDatabase
) -> None:
    assert tls_balanced.certificate is not None
    token = await shared_database.db.add_credential("kiosk", "TLS-LB-K1", "BJ-001")
    url = tls_balanced.url
    connector = aiohttp.TCPConnector(
        ssl=tls_balanced.certificate.client_context(), local_addr=(CLIENT, 0)
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
        async with http.get(f"{url}/kiosk/enrol") as response:
            assert response.status == 200
        enrol = f"{url}/kiosk/enrol"
        headers = {"Origin": url}  # the https page's own origin
        form = {"token": token}
        async with http.post(enrol, data=form, headers=headers, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
            cookie = response.cookies[KIOSK_COOKIE]
        assert cookie["secure"] is True
        # The browser sends a Secure cookie over https only: the socket is signed in by it.
        async with http.ws_connect(tls_balanced.ws_url, origin=url) as ws:
            await joined(ws, "kiosk", None)
            assert (await queued(ws))["type"] == "queue_position"
        # Another site's page is refused, over TLS as over plain HTTP.
        evil = {"Origin": "https://evil.example"}
        async with http.post(enrol, data=form, headers=evil, allow_redirects=False) as response:
            assert response.status == 403
    assert [r.status for r in tls_balanced.requests("/ws")] == [101]
    # The node logged the client, not nginx.
    log = cluster.nodes[0].log
    line = f'{CLIENT} "POST /kiosk/enrol" 303'
    for _ in range(100):
        if line in log.read_text("utf-8", errors="replace"):
            break
        await asyncio.sleep(0.1)
    assert line in log.read_text("utf-8", errors="replace")
