"""SIGTERM with calls under way (one node, the embedded default): each call is interrupted,
its recording part closed and signed, and it can be resumed at the next start."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from agent_console import ScriptedAgent
from dualrec.processes import end_group, group_members
from kiosk_client import Kiosk, open_source
from media import load_or_create_signing_key
from media.verify import verify_recording
from signaling import SignalingClient
from signaling.protocol import QueuePosition, Resume
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.e2e.test_crash import database
from tests.support import free_port, start_serve

__all__ = ["database"]  # the fixture, imported for this module's tests

CALLS = 3
#: aiohttp's run_app waits this long (its shutdown_timeout) for the connections to close.
GRACE_S = 60.0


async def left_of(pgid: int) -> list[int]:
    """What is left of the group ``pgid`` once its members had 5 s to follow the leader.

    (multiprocessing's resource tracker exits a moment after its parent.) What is left is
    killed, so that a failed test leaves nothing behind either.
    """
    for _ in range(100):
        if not group_members(pgid):
            return []
        await asyncio.sleep(0.05)
    return await end_group(pgid, grace_s=0)


async def test_sigterm_interrupts_every_live_call_resumably(
    tmp_path: Path, database: Database
) -> None:
    data_dir, port = tmp_path / "var", free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    kiosks = [await database.add_credential("kiosk", f"K{i}", "BJ-001") for i in range(CALLS)]
    agents = [await database.add_credential("agent", f"A{i}") for i in range(CALLS)]
    server = await start_serve(data_dir, port, output=tmp_path / "serve.log")
    try:
        runs = []
        recording: list[str] = []
        for kiosk_token, agent_token in zip(kiosks, agents, strict=True):
            # One pair at a time: each agent takes the customer who came with it.
            kiosk = Kiosk(url, kiosk_token, open_source("synthetic", KIOSK_LOOK), think_s=0.1)
            # Steps far apart: every call is still going at the SIGTERM.
            agent = ScriptedAgent(url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=60)
            runs.append(asyncio.gather(kiosk.run(), agent.run(), return_exceptions=True))
            for _ in range(300):
                sessions = await database.list_sessions()
                recording = [s.id for s in sessions if s.started_at is not None]
                if len(recording) == len(runs):
                    break
                await asyncio.sleep(0.1)
            assert len(recording) == len(runs), await database.list_sessions()
        calls = asyncio.gather(*runs)
        await asyncio.sleep(4.0)  # a segment closed in each part
        server.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(server.wait(), GRACE_S)
        await asyncio.wait_for(calls, 60)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert returncode == 0, (tmp_path / "serve.log").read_text()
    # Nothing of the server's process group is left (the composite pool among them).
    assert await left_of(server.pid) == []

    key = load_or_create_signing_key(data_dir / "keys" / "recording-signing-key.pem")
    for session_id in recording:
        stored = (await database.get_session(session_id)).session
        assert (str(stored.status), stored.end_reason) == ("interrupted", "server shutting down")
        folder = data_dir / "recordings" / session_id
        report = await asyncio.to_thread(verify_recording, folder, key.public_key())
        assert report.ok, (session_id, report.problems)
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert [e["file"] for e in manifest["chain"]["entries"] if e["file"].endswith(".webm")]

    # At the next start each customer may resume: the session is back in the queue.
    server = await start_serve(data_dir, port, output=tmp_path / "serve.log")
    try:
        for session_id in recording:
            stored = (await database.get_session(session_id)).session
            client = SignalingClient(url, "kiosk", kiosks[_kiosk_of(stored.kiosk_name)])
            await client.connect()
            await client.send(Resume(session_id=session_id))
            queued = await client.next_message()
            await client.close()
            assert isinstance(queued, QueuePosition), queued
            assert queued.session_id == session_id
    finally:
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), GRACE_S) == 0
    assert await left_of(server.pid) == []


def _kiosk_of(name: str) -> int:
    """The index of kiosk ``K<i>``."""
    return int(name.removeprefix("K"))
