"""A real TURN server for the tests: Debian's coturn (``turnserver``) as our own process.

It listens on 127.0.0.1 (UDP and TCP, no TLS) on a free port, checks credentials with
the TURN REST API's shared secret (``use-auth-secret``), relays on 127.0.0.1 and allows
loopback peers (the relay of a server on this machine is one), and writes its log to a
file of the test's own folder. ``Coturn.usage()`` reads, from that log, the traffic of
each TURN session by the user its credentials name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port

TURNSERVER = "/usr/bin/turnserver"
#: A session's totals as coturn logs them when the allocation ends: packets and bytes
#: received (rp, rb) and sent (sp, sb) by the TURN server on that session.
USAGE = re.compile(
    r"(?P<peer>peer )?usage: realm=<[^>]*>, username=<(?P<username>[^>]*)>, "
    r"rp=(?P<rp>\d+), rb=(?P<rb>\d+), sp=(?P<sp>\d+), sb=(?P<sb>\d+)"
)


@dataclass(frozen=True)
class Usage:
    """One TURN session's traffic, from coturn's log."""

    username: str
    #: False: between the client and coturn; True: between coturn's relay and the peer.
    peer: bool
    received_packets: int
    received_bytes: int
    sent_packets: int
    sent_bytes: int

    @property
    def user(self) -> str:
        """The user part of the TURN REST username (after ``<expiry>:``)."""
        return self.username.split(":", 1)[1]


@dataclass(frozen=True)
class Coturn:
    """A running coturn: where it listens, its shared secret and its log."""

    port: int
    secret: str
    log: Path

    @property
    def url(self) -> str:
        """Its TURN URL (UDP)."""
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def text(self) -> str:
        """Its log so far."""
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""

    def usage(self) -> list[Usage]:
        """The sessions that ended, with their traffic."""
        return [
            Usage(
                m["username"],
                m["peer"] is not None,
                int(m["rp"]),
                int(m["rb"]),
                int(m["sp"]),
                int(m["sb"]),
            )
            for m in USAGE.finditer(self.text())
        ]


def _binding_request() -> tuple[bytes, bytes]:
    transaction = secrets.token_bytes(12)
    return struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction, transaction


async def _answers_stun(port: int) -> bool:
    """Whether a STUN binding request to 127.0.0.1:port is answered within 0.5 s."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not answered.done():
                answered.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(
        Probe, remote_addr=("127.0.0.1", port), family=socket.AF_INET
    )
    try:
        request, transaction = _binding_request()
        transport.sendto(request)
        with contextlib.suppress(TimeoutError):
            data = await asyncio.wait_for(answered, 0.5)
            return data[8:20] == transaction
        return False
    finally:
        transport.close()


@asynccontextmanager
async def coturn(folder: Path) -> AsyncIterator[Coturn]:
    """coturn on a free port of 127.0.0.1 until the block ends (skipped where missing)."""
    if not shutil.which(TURNSERVER):
        if os.environ.get("DUALREC_REQUIRE_COTURN") == "1":
            pytest.fail(f"{TURNSERVER} is missing (apt-get install coturn)")
        pytest.skip(f"{TURNSERVER} is missing (apt-get install coturn)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = Coturn(port, secrets.token_urlsafe(24), folder / "turnserver.log")
    process = await asyncio.create_subprocess_exec(
        TURNSERVER,
        "-n",  # no configuration file: everything is here
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        "--use-auth-secret",
        f"--static-auth-secret={server.secret}",
        "--realm=dualrec.test",
        "--allow-loopback-peers",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--no-stdout-log",
        f"--log-file={server.log}",
        "--simple-log",
        "--verbose",
        f"--userdb={folder / 'turndb'}",
        f"--pidfile={folder / 'turnserver.pid'}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(40):
            if process.returncode is not None:
                raise RuntimeError(f"turnserver exited ({process.returncode}):\n{server.text()}")
            if await _answers_stun(port):
                break
        else:
            raise RuntimeError(f"turnserver does not answer on {port}:\n{server.text()}")
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
