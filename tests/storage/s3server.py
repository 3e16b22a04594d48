"""A real S3 HTTP endpoint (moto's server) on loopback, and a proxy that fails on purpose.

Import the fixtures explicitly: ``from tests.storage.s3server import s3_endpoint, ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from storage.retention import RetentionPolicy
from storage.s3store import S3Store

REGION = "us-east-1"
KEY_ID = SECRET = "testing"
_SLOWDOWN = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>SlowDown</Code>"
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def raw_client(endpoint_url: str) -> Any:
    """A plain boto3 client, for looking at the bucket from outside the store."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )


class FlakyProxy:
    """A TCP proxy on 127.0.0.1 that fails its first ``fail_first`` connections, then relays.

    ``drop`` closes the connection at once (a connection error for the client);
    ``slowdown`` answers HTTP 503 with S3's SlowDown error. It runs its own event loop on
    its own thread, so that blocking clients on any thread can use it.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        fail_first: int,
        mode: Literal["drop", "slowdown"] = "drop",
    ) -> None:
        """Prepare the proxy; :meth:`start` opens its port."""
        self.upstream, self.fail_first, self.mode = upstream, fail_first, mode
        self.connections = 0
        self.failed = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="flaky-proxy")
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """The proxy's HTTP endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FlakyProxy:
        """Listen on a free port of 127.0.0.1."""
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = started.result(timeout=10)
        return self

    def close(self) -> None:
        """Stop relaying, close every connection and the thread."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            if self.connections <= self.fail_first:
                self.failed += 1
                if self.mode == "slowdown":
                    await self._slowdown(reader, writer)
                return
            await self._relay(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _slowdown(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        lines = [line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line]
        headers = {name.strip(): value.strip() for name, value in lines}
        if "100-continue" not in headers.get("expect", ""):
            await reader.readexactly(int(headers.get("content-length", "0")))
        writer.write(
            b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
            + f"Content-Length: {len(_SLOWDOWN)}\r\nConnection: close\r\n\r\n".encode()
            + _SLOWDOWN
        )
        await writer.drain()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            writer.write_eof()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[tuple[str, int]]:
    """moto's S3 server on a free port of 127.0.0.1, for the whole test run."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_endpoint: tuple[str, int]) -> str:
    """The endpoint URL of the S3 server."""
    return f"http://{s3_endpoint[0]}:{s3_endpoint[1]}"


@pytest.fixture
def bucket(s3_url: str) -> str:
    """A fresh bucket with Object Lock enabled."""
    name = f"dualrec-{uuid.uuid4().hex[:20]}"
    with S3Store(
        name,
        policy=RetentionPolicy.load(),
        endpoint_url=s3_url,
        region=REGION,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
    ) as store:
        store.ensure_bucket()
    return name


@pytest.fixture
def make_store(s3_url: str, bucket: str) -> Iterator[Callable[..., S3Store]]:
    """Make S3Stores on the test's bucket (through ``endpoint_url`` if given); closed after."""
    stores: list[S3Store] = []

    def make(*, bucket_name: str | None = None, **options: Any) -> S3Store:
        settings: dict[str, Any] = {
            "policy": RetentionPolicy.load(),
            "endpoint_url": s3_url,
            "region": REGION,
            "backoff_s": 0.01,
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET,
        }
        store = S3Store(bucket_name or bucket, **{**settings, **options})
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def flaky_proxy(s3_endpoint: tuple[str, int]) -> Iterator[Callable[..., FlakyProxy]]:
    """Start FlakyProxies in front of the S3 server; closed after the test."""
    proxies: list[FlakyProxy] = []

    def start(fail_first: int, mode: Literal["drop", "slowdown"] = "drop") -> FlakyProxy:
        proxy = FlakyProxy(s3_endpoint, fail_first=fail_first, mode=mode).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()
