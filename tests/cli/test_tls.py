"""HTTPS: ``dualrec serve --tls-cert --tls-key`` with a certificate the test makes, and the
settings of TLS and trusted proxies refused with a clear message when they make no sense."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from dualrec.cli import _settings, build_parser
from dualrec.settings import Settings, SettingsError
from dualrec.tls import server_tls
from signaling.webauth import KIOSK_COOKIE
from storage import Database
from tests.certificates import Certificate, make_certificate
from tests.e2e.test_durable_sign_ins import queued
from tests.e2e.test_socket_revocation import joined
from tests.support import free_port


def test_tls_and_proxy_settings_from_the_environment_and_the_flags(tmp_path: Path) -> None:
    settings = Settings.from_environment(
        {
            "DUALREC_TLS_CERT": "/etc/dualrec/tls/server.crt",
            "DUALREC_TLS_KEY": "/etc/dualrec/tls/server.key",
            "DUALREC_TRUSTED_PROXIES": "10.1.0.10, 10.1.1.0/24,",
        }
    )
    assert settings.tls_cert == Path("/etc/dualrec/tls/server.crt")
    assert settings.tls_key == Path("/etc/dualrec/tls/server.key")
    assert settings.trusted_proxies == ("10.1.0.10", "10.1.1.0/24")
    plain = Settings.from_environment({})
    assert (plain.tls_cert, plain.tls_key, plain.trusted_proxies) == (None, None, ())
    args = build_parser().parse_args(
        [
            *("serve", "--tls-cert", "a.crt", "--tls-key", "a.key"),
            *("--trusted-proxy", "127.0.0.1", "--trusted-proxy", "::1"),
        ]
    )
    flagged = _settings(args)
    assert (flagged.tls_cert, flagged.tls_key) == (Path("a.crt"), Path("a.key"))
    assert flagged.trusted_proxies == ("127.0.0.1", "::1")


def test_tls_settings_that_make_no_sense_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="both tls_cert and tls_key"):
        Settings(tls_cert=tmp_path / "a.crt")
    with pytest.raises(SettingsError, match="both tls_cert and tls_key"):
        Settings.from_environment({"DUALREC_TLS_KEY": "a.key"})
    with pytest.raises(SettingsError, match=r"'nginx\.bank' is not an IP address or network"):
        Settings(trusted_proxies=("nginx.bank",))
    good = make_certificate(tmp_path / "good")
    other = make_certificate(tmp_path / "other")
    missing = Settings(tls_cert=tmp_path / "none.crt", tls_key=good.key)
    with pytest.raises(SettingsError, match=r"certificate file .*none\.crt does not exist"):
        server_tls(missing)
    with pytest.raises(SettingsError, match="cannot be used together"):
        server_tls(Settings(tls_cert=good.cert, tls_key=other.key))  # not a pair
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(SettingsError, match="cannot be used together"):
        server_tls(Settings(tls_cert=garbage, tls_key=good.key))
    # An encrypted key is refused, never prompted for (a prompt would hang a service's start).
    encrypted = tmp_path / "encrypted.key"
    key = serialization.load_pem_private_key(good.key.read_bytes(), None)
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(SettingsError, match="key file is encrypted"):
        server_tls(Settings(tls_cert=good.cert, tls_key=encrypted))
    context = server_tls(Settings(tls_cert=good.cert, tls_key=good.key))
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server_tls(Settings()) is None


async def test_serve_refuses_to_start_on_a_certificate_without_its_key(tmp_path: Path) -> None:
    made = make_certificate(tmp_path / "tls")
    other = make_certificate(tmp_path / "other")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dualrec", "serve", "--data-dir", str(tmp_path / "var"),
        "--port", str(free_port()), "--tls-cert", str(made.cert), "--tls-key", str(other.key),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "cannot be used together" in err.decode()


async def _start_tls_serve(
    data_dir: Path, port: int, made: Certificate, log: Path, timeout_s: float = 60.0
) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dualrec", "serve", "--data-dir", str(data_dir),
            "--port", str(port), "--tls-cert", str(made.cert), "--tls-key", str(made.key),
            "--init", stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    connector = aiohttp.TCPConnector(ssl=made.client_context())
    async with aiohttp.ClientSession(connector=connector) as http:
        while loop.time() < deadline and process.returncode is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"https://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            await asyncio.sleep(0.1)
    if process.returncode is None:
        process.kill()
    await process.wait()
    raise AssertionError(f"dualrec serve did not start over TLS:\n{log.read_text()}")


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Certificate, str]]:
    """``dualrec serve`` over HTTPS; its URL, certificate and a kiosk's device token."""
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    async with Database(Settings(data_dir=data_dir).database) as db:
        token = await db.add_credential("kiosk", "TLS-K1", "BJ-001")
    made = make_certificate(tmp_path / "tls")
    port = free_port()
    process = await _start_tls_serve(data_dir, port, made, tmp_path / "serve.log")
    try:
        yield f"https://127.0.0.1:{port}", made, token
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_serve_over_https_pages_secure_cookies_and_a_wss_socket(
    tls_server: tuple[str, Certificate, str],
) -> None:
    url, made, token = tls_server
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(ssl=made.client_context())
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
        async with http.get(f"{url}/kiosk/enrol") as response:
            assert response.status == 200
            assert "<form" in await response.text()
        enrol = f"{url}/kiosk/enrol"
        headers = {"Origin": url}
        form = {"token": token}
        async with http.post(enrol, data=form, headers=headers, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
            cookie = response.cookies[KIOSK_COOKIE]
        assert cookie["secure"] is True and cookie["httponly"] is True
        # The page's socket over wss, signed in by that cookie (its Origin is the server's).
        wss = url.replace("https", "wss", 1) + "/ws"
        async with http.ws_connect(wss, origin=url) as ws:
            await joined(ws, "kiosk", None)
            assert (await queued(ws))["type"] == "queue_position"
    # Plain HTTP on the same port is not served, and a client that trusts nothing is refused.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(url.replace("https", "http", 1) + "/healthz") as response:
                await response.read()
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.get(f"{url}/healthz") as response:
                await response.read()
