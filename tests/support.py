"""Helpers shared by the tests: a running server (in the test's process or its own) and a
complete scripted session."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from agent_console import AgentResult, Script, ScriptedAgent
from dualrec.app import CENTRE, DATABASE
from dualrec.settings import Settings
from kiosk_client import GROWTH_ANSWERS, Kiosk, KioskResult, open_source
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_serve(
    data_dir: Path, port: int, *extra: str, output: Path | None = None, timeout_s: float = 30.0
) -> asyncio.subprocess.Process:
    """``dualrec serve`` (``extra`` arguments too) as its own process, once it answers /healthz.

    Its stdout and stderr go to ``output`` (appended) or nowhere. It leads a process group
    of its own, so that whatever it started can be found and ended with it.
    """
    with contextlib.ExitStack() as files:
        sink = (
            asyncio.subprocess.DEVNULL if output is None else files.enter_context(output.open("ab"))
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dualrec",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--segment-seconds",
            "3",
            "--init",  # a fresh folder is made a data folder; a made one is kept as it is
            *extra,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT if output is not None else sink,
            start_new_session=True,
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline and process.returncode is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return process
            await asyncio.sleep(0.1)
    if process.returncode is None:
        process.kill()
    await process.wait()
    shown = "" if output is None else f": see {output}"
    raise AssertionError(
        f"dualrec serve on port {port} did not start (exit {process.returncode}){shown}"
    )


@dataclass
class RunningServer:
    """A server started for one test."""

    runner: web.AppRunner
    url: str
    settings: Settings

    @property
    def ws_url(self) -> str:
        """The signalling endpoint."""
        return self.url.replace("http", "ws", 1) + "/ws"

    @property
    def db(self) -> Database:
        """The server's database."""
        return self.runner.app[DATABASE]

    @property
    def centre(self):  # type: ignore[no-untyped-def]
        """The server's call centre."""
        return self.runner.app[CENTRE]


async def run_session(server: RunningServer, *, step_s: float = 1.2, suffix: str = "1") -> str:
    """One complete card-opening session between a synthetic kiosk and a scripted agent."""
    kiosk_token = await server.db.add_credential("kiosk", f"BJ-001-K{suffix}", "BJ-001")
    agent_token = await server.db.add_credential("agent", f"agent-{suffix}")
    kiosk = Kiosk(server.ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK, pulse=True))
    agent = ScriptedAgent(
        server.ws_url, agent_token, open_source("synthetic", AGENT_LOOK, pulse=True), step_s=step_s
    )
    kiosk_result, agent_result = await asyncio.gather(kiosk.run(), agent.run())
    assert kiosk_result.ended is not None and agent_result.ended is not None
    assert kiosk_result.session_id == agent_result.session_id
    # Each side saw the other's media through the relay.
    for result in (kiosk_result, agent_result):
        assert result.received_frames["video"] > 50
        assert result.received_frames["audio"] > 200
    assert agent_result.session_id is not None
    return agent_result.session_id


@dataclass
class FlowRun:
    """One session of a flow as both ends saw it."""

    session_id: str
    kiosk: KioskResult
    agent: AgentResult


async def run_flow(
    server: RunningServer,
    service: str,
    *,
    suffix: str = "1",
    step_s: float = 0.5,
    language: str = "en",
    script: Script | None = None,
    answers: Mapping[str, str] = GROWTH_ANSWERS,
    withhold: frozenset[str] = frozenset(),
    evidence_timeout_s: float = 20.0,
    during: Callable[[Kiosk], Awaitable[None]] | None = None,
) -> FlowRun:
    """One session of ``service`` between a synthetic kiosk and a scripted agent."""
    kiosk_token = await server.db.add_credential("kiosk", f"SH-002-K{suffix}", "SH-002")
    agent_token = await server.db.add_credential("agent", f"agent-{service}-{suffix}")
    kiosk = Kiosk(
        server.ws_url,
        kiosk_token,
        open_source("synthetic", KIOSK_LOOK),
        service=service,
        language=language,
        answers=answers,
        think_s=0.1,
        withhold=withhold,
    )
    agent = ScriptedAgent(
        server.ws_url,
        agent_token,
        open_source("synthetic", AGENT_LOOK),
        step_s=step_s,
        script=script,
        evidence_timeout_s=evidence_timeout_s,
    )
    calls = [kiosk.run(), agent.run()] + ([during(kiosk)] if during is not None else [])
    kiosk_result, agent_result, *_ = await asyncio.gather(*calls)
    assert isinstance(kiosk_result, KioskResult) and isinstance(agent_result, AgentResult)
    assert agent_result.session_id is not None
    assert kiosk_result.session_id == agent_result.session_id
    return FlowRun(agent_result.session_id, kiosk_result, agent_result)
