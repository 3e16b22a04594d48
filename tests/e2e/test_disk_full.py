"""The recordings disk fills up mid-call (a 20 MB tmpfs, filled 8 s in): the call ends as
failed with both parties told why, what was recorded is closed, chained and signed and
verifies, ``/healthz`` says so, and the server goes on serving calls."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent_console import ScriptedAgent
from kiosk_client import Kiosk, open_source
from media import load_or_create_signing_key
from media.verify import verify_recording
from signaling.errors import RecordingFailed
from signaling.protocol import Error, SessionEnded
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.e2e.test_crash import database
from tests.support import free_port, start_serve

__all__ = ["database"]  # the fixture, imported for this module's tests

FILLER = "filler.bin"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB tmpfs as the recordings folder of ``tmp_path / "var"``, unmounted after."""
    recordings = tmp_path / "var" / "recordings"
    recordings.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m,mode=0700", "tmpfs", str(recordings)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here (needs root): {mounted.stderr.strip()}")
    try:
        yield recordings
    finally:
        subprocess.run(["umount", "-l", str(recordings)], check=False)


def fill(folder: Path) -> int:
    """Write a file into ``folder`` until the disk refuses more; the bytes written (blocking)."""
    written = 0
    chunk = b"\0" * (256 * 1024)
    with (folder / FILLER).open("wb") as f:
        try:
            while True:
                written += os.write(f.fileno(), chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return written


async def health(port: int) -> dict[str, Any]:
    """The server's /healthz."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 200
        data: dict[str, Any] = await response.json()
        return data


async def wait_recording(database: Database, count: int) -> str:
    """The id of the ``count``-th session once its recording runs."""
    for _ in range(300):
        sessions = [s for s in await database.list_sessions() if s.started_at is not None]
        if len(sessions) >= count:
            return sorted(sessions, key=lambda s: s.created_at)[count - 1].id
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {count} recording sessions: {await database.list_sessions()}")


async def failed_call(
    url: str, kiosk_token: str, agent_token: str, during: Callable[[], Awaitable[str]]
) -> str:
    """A call the server ends for want of disk (``during`` runs meanwhile, and names it).

    Both parties must get ``recording_failed``, then ``session_ended`` by the server.
    """
    kiosk = Kiosk(url, kiosk_token, open_source("synthetic", KIOSK_LOOK), think_s=0.1)
    # Steps far apart: the call is still going when the disk fills up.
    agent = ScriptedAgent(url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=60)
    kiosk_run, agent_run = asyncio.ensure_future(kiosk.run()), asyncio.ensure_future(agent.run())
    try:
        session_id = await during()
        assert (await asyncio.wait_for(kiosk_run, 60)).ended is not None
        # The scripted agent would find out only at its next step: its messages say it all.
        for _ in range(300):
            if any(isinstance(m, SessionEnded) for m in agent.client.history):
                break
            await asyncio.sleep(0.1)
    finally:
        for run in (kiosk_run, agent_run):
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
    for messages in (kiosk.client.history, agent.client.history):
        errors = [m.code for m in messages if isinstance(m, Error)]
        ended = [m for m in messages if isinstance(m, SessionEnded)]
        assert errors == ["recording_failed"], errors
        assert [(m.by, m.reason) for m in ended] == [("server", RecordingFailed.reason)]
        assert {m.session_id for m in ended} == {session_id}
    return session_id


async def test_a_full_disk_mid_call_fails_the_call_cleanly(
    tmp_path: Path, database: Database, small_disk: Path
) -> None:
    data_dir, port = tmp_path / "var", free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    log = tmp_path / "serve.log"
    kiosk_token = await database.add_credential("kiosk", "K1", "BJ-001")
    agent_token = await database.add_credential("agent", "A1")
    server = await start_serve(data_dir, port, output=log)
    try:
        filled = 0

        async def fill_mid_call() -> str:
            nonlocal filled
            session_id = await wait_recording(database, 1)
            await asyncio.sleep(8.0)
            filled = await asyncio.to_thread(fill, small_disk)
            return session_id

        # Both parties are told, in words of their own (the pages' texts for the code),
        # and the call ends.
        session_id = await failed_call(url, kiosk_token, agent_token, fill_mid_call)
        stored = (await database.get_session(session_id)).session
        assert (str(stored.status), stored.end_reason) == ("failed", RecordingFailed.reason)

        # /healthz says what is wrong, the disk still full.
        state = await health(port)
        assert state["status"] == "degraded", state
        assert any("recordings disk full" in d for d in state["degraded"]), state

        # What was recorded up to the moment is closed, chained and signed, and verifies.
        key = load_or_create_signing_key(data_dir / "keys" / "recording-signing-key.pem")
        folder = small_disk / session_id
        report = await asyncio.to_thread(verify_recording, folder, key.public_key())
        assert report.ok, report.problems
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert manifest["failed"]["reason"] == RecordingFailed.reason
        assert any("disk full" in e or "No space" in e for e in manifest["failed"]["errors"])
        for track in report.tracks:  # about 8 s of each track, before the disk filled up
            assert track.frames > 0 and (track.end_s or 0) > 6.0, track

        # While the disk is full no call is recorded: the next one fails likewise, at once.
        async def matched() -> str:
            for _ in range(300):
                sessions = await database.list_sessions()
                if len(sessions) == 2 and sessions[0].agent_name is not None:
                    return sessions[0].id
                await asyncio.sleep(0.1)
            raise AssertionError(f"no second call: {await database.list_sessions()}")

        refused = await failed_call(url, kiosk_token, agent_token, matched)
        stored = (await database.get_session(refused)).session
        assert (str(stored.status), stored.end_reason) == ("failed", RecordingFailed.reason)

        # Room again: the server says so and serves the next call, recorded whole.
        (small_disk / FILLER).unlink()
        assert filled > 0
        state = await health(port)
        assert (state["status"], state["degraded"]) == ("ok", []), state
        kiosk = Kiosk(url, kiosk_token, open_source("synthetic", KIOSK_LOOK), think_s=0.1)
        agent = ScriptedAgent(url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=0.5)
        kiosk_result, agent_result = await asyncio.wait_for(
            asyncio.gather(kiosk.run(), agent.run()), 120
        )
        assert agent_result.ended is not None and kiosk_result.errors == []
        second = agent_result.session_id
        assert second is not None and second != session_id
        stored = (await database.get_session(second)).session
        assert str(stored.status) == "ended"
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait(), 60)
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert server.returncode == 0, log.read_text()
    report = await asyncio.to_thread(verify_recording, small_disk / second, key.public_key())
    assert report.ok, report.problems
