"""Several real ``dualrec serve`` processes with nginx in front, for the tests of several nodes.

A ``Cluster`` starts nodes (each its own process and port, one shared data folder, one
database URL, extra arguments such as ``--redis-url``/``--node-id`` per node), and a
``Balancer``: nginx on the shipped configuration (``dualrec.loadbalancer``) in a prefix of
its own. Each node's and nginx's output goes to files the fixtures attach to a failed test's
report. Nodes can be killed (SIGKILL), stopped (SIGTERM), frozen (SIGSTOP) and thawed.
``Cluster.close`` leaves no process behind: every node leads its own process group, and
what is left of each group (the composite's worker processes too) is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from dualrec.loadbalancer import nginx_command, write_prefix
from dualrec.processes import group_members
from tests.support import free_port, start_serve

#: A node's extra ``dualrec serve`` arguments, given its name (e.g. for ``--node-id``).
NodeArgs = Callable[[str], Sequence[str]]
#: How much of each log a failed test shows.
TAIL_LINES = 120


def no_args(name: str) -> Sequence[str]:
    """No extra arguments."""
    return ()


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    if not path.exists():
        return "(no output)"
    text = path.read_text("utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` still lives."""
    return bool(group_members(pgid))


async def _end_group(pgid: int | None, timeout_s: float = 10.0) -> None:
    """SIGKILL what is left of the process group ``pgid`` (ours: we started its leader)."""
    if pgid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while group_alive(pgid):
        if loop.time() > deadline:
            raise AssertionError(f"processes {group_members(pgid)} outlived a SIGKILL")
        await asyncio.sleep(0.05)


@dataclass
class Node:
    """One ``dualrec serve`` process: its port, its arguments and its output file."""

    name: str
    data_dir: Path
    args: tuple[str, ...]
    log: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    #: Every process group this node led, to be ended at teardown.
    groups: list[int] = field(default_factory=list)

    @property
    def address(self) -> str:
        """``host:port`` as nginx and the tests reach it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The node's own HTTP address (not through nginx)."""
        return f"http://{self.address}"

    @property
    def ws_url(self) -> str:
        """The node's own signalling endpoint."""
        return f"ws://{self.address}/ws"

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the process (again, after a kill) and wait until /healthz answers."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"--- {self.name} starting on {self.address}\n")
        self.process = await start_serve(
            self.data_dir, self.port, *self.args, output=self.log, timeout_s=timeout_s
        )
        self.groups.append(self.process.pid)

    def send(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the node's main process."""
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        assert self.process is not None
        self.process.send_signal(sig)

    async def kill(self) -> None:
        """SIGKILL, as a crash: the node does nothing more. Waits until it is gone."""
        self.send(signal.SIGKILL)
        await self.wait_exit(10.0)

    async def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (a drain); its exit status once it has exited by itself within ``timeout_s``."""
        self.send(signal.SIGTERM)
        return await self.wait_exit(timeout_s)

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets but runs nothing, as a frozen machine."""
        self.send(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after ``freeze``."""
        self.send(signal.SIGCONT)

    async def wait_exit(self, timeout_s: float) -> int:
        """The exit status, once the process has exited."""
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout_s)

    async def healthz(self) -> dict[str, Any]:
        """The node's own /healthz (not through nginx)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/healthz") as response:
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
            return body

    async def end(self) -> None:
        """Teardown: the process and whatever it started are gone."""
        if self.process is not None and self.process.returncode is None:
            # A frozen node gets the SIGKILL too; SIGCONT lets it be reaped at once.
            self.process.kill()
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)
            await self.process.wait()
        for pgid in self.groups:
            await _end_group(pgid)


#: A line of the shipped configuration's access log (``log_format dualrec``).
_ACCESS_LINE = re.compile(
    r'"[A-Z]+ (?P<uri>\S+)" (?P<status>\d+) .* upstream=(?P<upstreams>.*?) upstream_status='
)


@dataclass(frozen=True)
class Proxied:
    """One request as nginx logged it: its status, and the nodes tried, in order."""

    status: int
    upstreams: list[str]


@dataclass
class Balancer:
    """nginx on the shipped configuration, in front of some nodes, in its own prefix."""

    nginx: str
    prefix: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """The one address browsers and kiosks use."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The signalling endpoint through nginx."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def output(self) -> Path:
        """nginx's own stdout and stderr."""
        return self.prefix / "logs" / "nginx.out"

    @property
    def error_log(self) -> Path:
        """nginx's error log (upstreams that failed are named there)."""
        return self.prefix / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        """The shipped configuration's access log: one line per request, with its upstreams."""
        return self.prefix / "logs" / "dualrec-access.log"

    def configure(self, upstreams: Sequence[str]) -> Path:
        """Write the prefix for ``upstreams`` (``host:port``); the main configuration file."""
        return write_prefix(self.prefix, upstreams, self.port)

    async def check(self, upstreams: Sequence[str]) -> tuple[int, str]:
        """``nginx -t`` on the configuration for ``upstreams``: its status and its words."""
        config = self.configure(upstreams)
        process = await asyncio.create_subprocess_exec(
            *nginx_command(self.nginx, config, test=True),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        return await process.wait(), out.decode("utf-8", "replace")

    async def start(self, upstreams: Sequence[str], timeout_s: float = 10.0) -> None:
        """nginx in the foreground, once it accepts connections."""
        config = self.configure(upstreams)
        with self.output.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *nginx_command(self.nginx, config),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline and self.process.returncode is None:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
        await self.stop()
        raise AssertionError(f"nginx did not start:\n{_tail(self.output)}\n{_tail(self.error_log)}")

    def requests(self, uri: str) -> list[Proxied]:
        """The requests for ``uri`` in the access log (written as each request ends)."""
        if not self.access_log.exists():
            return []
        found = []
        for line in self.access_log.read_text("utf-8").splitlines():
            match = _ACCESS_LINE.search(line)
            if match is not None and match["uri"] == uri:
                upstreams = [u.strip() for u in match["upstreams"].split(",")]
                found.append(Proxied(int(match["status"]), upstreams))
        return found

    async def stop(self) -> None:
        """Fast shutdown (SIGTERM), then nothing of nginx left (its workers are its group)."""
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10.0)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await _end_group(self.process.pid)

    def logs(self) -> str:
        """What nginx said, for a failed test's report."""
        return (
            f"--- nginx output\n{_tail(self.output)}\n--- nginx error log\n{_tail(self.error_log)}"
            f"\n--- nginx access log\n{_tail(self.access_log)}"
        )


class Cluster:
    """Nodes on one data folder and database, and nginx in front of them when asked."""

    def __init__(self, directory: Path, database_url: str | None, nginx: str | None) -> None:
        self.directory = directory
        self.data_dir = directory / "var"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.nginx = nginx
        self.nodes: list[Node] = []
        self.balancer: Balancer | None = None

    def add_node(self, *extra: str, name: str | None = None) -> Node:
        """A new node (not started), with ``extra`` arguments after the common ones."""
        name = name or f"node{len(self.nodes) + 1}"
        database = () if self.database_url is None else ("--database-url", self.database_url)
        node = Node(name, self.data_dir, (*database, *extra), self.directory / f"{name}.log")
        self.nodes.append(node)
        return node

    async def start_nodes(self, count: int, extra: NodeArgs = no_args) -> list[Node]:
        """``count`` new nodes, started one after the other (each given ``extra(name)``)."""
        started = []
        for _ in range(count):
            name = f"node{len(self.nodes) + 1}"
            node = self.add_node(*extra(name), name=name)
            await node.start()
            started.append(node)
        return started

    async def start_balancer(self, nodes: Sequence[Node] | None = None) -> Balancer:
        """nginx in front of ``nodes`` (default: every node added so far)."""
        if self.nginx is None:
            raise RuntimeError("no nginx program: the fixture should have skipped this test")
        if self.balancer is not None:
            await self.balancer.stop()
        self.balancer = Balancer(self.nginx, self.directory / "nginx")
        await self.balancer.start([node.address for node in (nodes or self.nodes)])
        return self.balancer

    def groups(self) -> list[int]:
        """Every process group started: each node's and nginx's."""
        groups = [pgid for node in self.nodes for pgid in node.groups]
        if self.balancer is not None and self.balancer.process is not None:
            groups.append(self.balancer.process.pid)
        return groups

    async def close(self) -> None:
        """End nginx and every node, with whatever they started."""
        if self.balancer is not None:
            await self.balancer.stop()
        await asyncio.gather(*(node.end() for node in self.nodes))

    def logs(self) -> str:
        """Every node's and nginx's output, the last lines of each."""
        parts = [f"--- {node.name} ({node.address})\n{_tail(node.log)}" for node in self.nodes]
        if self.balancer is not None:
            parts.append(self.balancer.logs())
        return "\n".join(parts)
