"""The live socket fuzzed while a real call goes on: every message answered, nothing crashes.

Three fuzzing sockets (one never joined, a joined kiosk, a joined agent kept away from
the queue) send over 10,000 hostile messages from a seeded generator, and hypothesis
sends its own, while an aiortc kiosk and the scripted agent make a real call on the same
server. Every message must get an answer (an ``error`` with a documented code that names
the problem, or a documented reply), no socket may drop, no error or traceback may be
logged, and the call must complete with a recording that verifies.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.verify import verify_recording
from signaling.sockets import OPEN_SOCKETS, CloseCode
from tests.fuzz.hostile import check_answer, hostile, run_atheris
from tests.support import RunningServer, run_session

SEED = 20261202
#: Messages each seeded socket sends (three sockets: over 10,000 in all).
PER_SOCKET = 3500
#: Messages hypothesis sends over the joined kiosk's socket.
HYPOTHESIS_EXAMPLES = 600
#: Inputs the atheris fuzzer sends through the live socket.
ATHERIS_RUNS = 3000


class Prober:
    """One fuzzing socket: sends a message, waits for its answer, checks every frame."""

    def __init__(self, http: aiohttp.ClientSession, url: str, role: str, token: str) -> None:
        self.http, self.url, self.role, self.token = http, url, role, token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sent = self.answered = self.reconnects = 0

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.url)
        if self.role != "none":
            await self.ws.send_json({"type": "join", "role": self.role, "token": self.token})
            assert check_answer(await self.ws.receive_str(timeout=10))["type"] == "joined"
        if self.role == "agent":  # away: this agent must never take the real customer
            await self.exchange('{"type": "presence", "state": "away"}')

    async def exchange(self, data: str | bytes) -> None:
        """Send ``data``; at least one frame must answer it, and every frame must be proper."""
        assert self.ws is not None
        await (self.ws.send_bytes(data) if isinstance(data, bytes) else self.ws.send_str(data))
        self.sent += 1
        frame = await self.ws.receive(timeout=10)
        while True:
            if frame.type == aiohttp.WSMsgType.CLOSE and self.role == "none":
                # The join time-out: the only close allowed, to a socket that never joined.
                assert frame.data == CloseCode.JOIN_TIMEOUT, frame
                self.reconnects += 1
                await self.connect()
                return
            assert frame.type == aiohttp.WSMsgType.TEXT, (frame, data[:200])
            check_answer(frame.data)
            self.answered += 1
            try:  # answers that came with it (a queue position after a request)
                frame = await self.ws.receive(timeout=0.001)
            except TimeoutError:
                return

    async def fuzz(self, rng: random.Random, count: int) -> None:
        """Send ``count`` hostile messages made by ``rng``."""
        await self.connect()
        for _ in range(count):
            await self.exchange(hostile(rng, self.role))


async def matched(server: RunningServer) -> None:
    """Wait until the real call has an agent, so no fuzzing socket can get in its way."""
    async with asyncio.timeout(30):
        while not any(s.agent is not None for s in server.centre.sessions.values()):
            await asyncio.sleep(0.05)


async def test_the_live_socket_answers_10000_hostile_messages_during_a_real_call(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    call = asyncio.ensure_future(run_session(server, step_s=1.0, suffix="fuzz"))
    await matched(server)
    # The unjoined socket meets the join time-out several times during the run.
    server.runner.app[OPEN_SOCKETS].join_timeout_s = 1.0
    tokens = {
        "none": "",
        "kiosk": await server.db.add_credential("kiosk", "FZ-K1", "SH-002"),
        "agent": await server.db.add_credential("agent", "fuzzer"),
    }
    async with aiohttp.ClientSession() as http:
        probers = [Prober(http, server.ws_url, role, token) for role, token in tokens.items()]
        await asyncio.gather(
            *(p.fuzz(random.Random(f"{SEED}-{p.role}"), PER_SOCKET) for p in probers)
        )
        hypothesis_kiosk = Prober(http, server.ws_url, "kiosk", tokens["kiosk"])
        await hypothesis_kiosk.connect()
        loop = asyncio.get_running_loop()

        @settings(
            max_examples=HYPOTHESIS_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.randoms(use_true_random=False))
        def probe(rng: random.Random) -> None:
            message = hostile(rng, "kiosk")
            asyncio.run_coroutine_threadsafe(hypothesis_kiosk.exchange(message), loop).result(30)

        # hypothesis runs (and shrinks) in a thread; the exchanges run on the server's loop.
        await asyncio.to_thread(probe)
        session_id = await call
    sent = sum(p.sent for p in probers)
    assert sent >= 10_000 and all(p.answered >= p.sent - p.reconnects for p in probers)
    assert hypothesis_kiosk.sent >= HYPOTHESIS_EXAMPLES
    assert probers[0].reconnects >= 1  # the join time-out was met, and the prober went on
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert logged == [], [r.getMessage() for r in logged]
    report = await asyncio.to_thread(verify_recording, server.settings.recordings_dir / session_id)
    assert report.ok, report.problems


def test_atheris_over_the_live_socket(tmp_path: Path) -> None:
    """Coverage-guided: the server in the fuzzer's process, its signalling instrumented."""
    # The first byte of an input picks the socket (unjoined, kiosk, agent) and frame kind.
    run_atheris("socket_atheris.py", ATHERIS_RUNS, tmp_path, prefixes=("a", "b", "c", "e"))
