"""Security headers on every response, no inline scripts, Secure cookies under TLS,
pre-sign-in CSRF refused, customer search never in a URL nor in the request log (issue 12).

A real server on loopback (plain HTTP, and HTTPS with a self-signed certificate) and a
real aiohttp client; the page sign-in forms are posted as a browser would, with the
``Origin``/``Sec-Fetch-Site`` headers a browser adds.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dualrec.app import RUNNER_OPTIONS, create_app
from dualrec.settings import Settings
from tests.support import RunningServer

PASSWORD = "a long password 1"
TEMPLATES = Path(__file__).resolve().parents[2]
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(src=|type=\"application/json\"))[^>]*>")


def client() -> aiohttp.ClientSession:
    """An HTTP client that keeps the cookies of 127.0.0.1."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def signed_in(
    server: RunningServer, role: str, name: str, *, existing: bool = False
) -> aiohttp.ClientSession:
    """A client signed in as ``role`` through the login form (a new account unless
    ``existing``, which only gets a password)."""
    if not existing:
        await server.db.add_credential(role, name)
    await server.db.set_password(role, name, PASSWORD)
    http = client()
    form = {"name": name, "password": PASSWORD}
    async with http.post(f"{server.url}/console/login", data=form) as response:
        assert response.status == 200, await response.text()
    return http


def assert_secured(response: aiohttp.ClientResponse, *, cacheable: bool = False) -> None:
    """The headers every answer carries."""
    headers = response.headers
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'", csp
    assert "unsafe-inline" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'" and csp["form-action"] == "'self'", csp
    assert csp["base-uri"] == "'none'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert not re.search(r"\d", headers["Server"]), headers["Server"]
    if not cacheable:
        assert headers["Cache-Control"] == "no-store", (response.url, headers)


async def test_every_kind_of_answer_carries_the_security_headers(server: RunningServer) -> None:
    supervisor = await signed_in(server, "supervisor", "zhang.min")
    admin = await signed_in(server, "admin", "root")
    anonymous = client()
    try:
        answers = {
            "login page": (anonymous, "/console/login", 200),
            "enrol page": (anonymous, "/kiosk/enrol", 200),
            "redirect": (anonymous, "/audit", 303),
            "not found": (anonymous, "/no/such/page", 404),
            "unauthorised JSON": (anonymous, "/console/api/overview", 401),
            "JSON": (supervisor, "/console/api/overview", 200),
            "supervision page": (supervisor, "/console/supervisor", 200),
            "forbidden": (supervisor, "/admin", 403),
            "admin page": (admin, "/admin", 200),
        }
        for what, (http, path, status) in answers.items():
            async with http.get(f"{server.url}{path}", allow_redirects=False) as response:
                assert response.status == status, (what, await response.text())
                assert_secured(response)
        for path in (
            "/console/static/console.js",
            "/static/shared/dom.js",
            "/kiosk/static/kiosk.js",
        ):
            async with anonymous.get(f"{server.url}{path}") as response:
                assert response.status == 200, path
                assert_secured(response, cacheable=True)
    finally:
        for http in (supervisor, admin, anonymous):
            await http.close()


def test_no_page_has_an_inline_script() -> None:
    pages = [*TEMPLATES.glob("agent_console/templates/*.html")]
    pages += TEMPLATES.glob("kiosk_client/templates/*.html")
    assert len(pages) > 10
    inline = {p.name: m.group() for p in pages if (m := _INLINE_SCRIPT.search(p.read_text()))}
    assert inline == {}


async def sign_in_forms(server: RunningServer, role: str, name: str) -> dict[str, dict[str, str]]:
    """A new ``role`` account and a new kiosk, and the sign-in form of each by its URL."""
    await server.db.add_credential(role, name)
    await server.db.set_password(role, name, PASSWORD)
    token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    return {
        "/console/login": {"name": name, "password": PASSWORD},
        "/kiosk/enrol": {"token": token},
    }


async def test_a_sign_in_form_posted_by_another_site_is_refused(server: RunningServer) -> None:
    forms = await sign_in_forms(server, "agent", "ann")
    cross_site = (
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},  # a browser without Sec-Fetch-Site
        {"Origin": "null"},  # a sandboxed frame
    )
    # Our own page's post: same-origin (Origin is "null" under Referrer-Policy: no-referrer).
    own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    for path, form in forms.items():
        for headers in cross_site:
            async with client() as http:
                url = f"{server.url}{path}"
                async with http.post(url, data=form, headers=headers, allow_redirects=False) as r:
                    assert r.status == 403, (path, headers, r.status)
                    assert "another site" in await r.text()
                    assert not r.cookies, (path, headers)
        async with client() as http:
            url = f"{server.url}{path}"
            async with http.post(url, data=form, headers=own, allow_redirects=False) as r:
                assert r.status == 303, (path, await r.text())


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


@pytest.fixture
async def tls_server(settings: Settings, tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The real app over HTTPS on 127.0.0.1, logging requests as ``dualrec serve`` does."""
    runner = web.AppRunner(create_app(settings), handle_signals=False, **RUNNER_OPTIONS)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_self_signed(tmp_path))
    await site.start()
    try:
        yield RunningServer(runner, f"https://127.0.0.1:{runner.addresses[0][1]}", settings)
    finally:
        await runner.cleanup()


async def test_cookies_are_secure_under_tls(tls_server: RunningServer) -> None:
    forms = await sign_in_forms(tls_server, "auditor", "li.audit")
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        for path, form in forms.items():
            url = f"{tls_server.url}{path}"
            async with http.post(url, data=form, allow_redirects=False) as response:
                assert response.status == 303, await response.text()
                [cookie] = response.cookies.values()
                assert cookie["secure"] and cookie["httponly"], cookie
                assert cookie["samesite"] == "Strict"


async def test_a_customer_search_by_get_is_refused_and_no_query_is_logged(
    tls_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    await tls_server.db.add_credential("auditor", "li.audit")
    await tls_server.db.set_password("auditor", "li.audit", PASSWORD)
    full_id = "11010519491231002X"
    connector = aiohttp.TCPConnector(ssl=False)
    jar = aiohttp.CookieJar(unsafe=True)
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
        form = {"name": "li.audit", "password": PASSWORD}
        async with http.post(f"{tls_server.url}/console/login", data=form) as response:
            assert response.status == 200
            csrf = _CSRF.search(await response.text())
        assert csrf is not None
        async with http.get(f"{tls_server.url}/audit?customer={full_id}") as response:
            assert response.status == 400
            assert full_id not in await response.text()
        async with http.get(f"{tls_server.url}/audit?service=card_opening") as response:
            assert response.status == 200  # other filters and paging links still use GET
        posted = {"customer": full_id, "csrf": csrf.group(1)}
        async with http.post(f"{tls_server.url}/audit", data=posted) as response:
            assert response.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("/audit" in line for line in lines), lines
    assert not any(full_id in line or "?" in line for line in lines), lines
