"""Resume after a restart: a server killed mid-flow, restarted; the kiosk resumes its session."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from agent_console import ScriptedAgent
from kiosk_client import Kiosk, open_source
from media import load_or_create_signing_key
from media.verify import verify_recording
from signaling import Error, SignalingClient
from signaling.protocol import Resume
from storage import Database
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.e2e.test_crash import database
from tests.support import free_port, start_serve

__all__ = ["database"]  # the fixture, imported for this module's tests


async def test_a_session_resumes_at_its_step_after_a_restart(
    tmp_path: Path, database: Database
) -> None:
    data_dir, port = tmp_path / "var", free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    kiosk_token = await database.add_credential("kiosk", "K1", "BJ-001")
    tokens = [await database.add_credential("agent", name) for name in ("A1", "A2")]
    other_kiosk = await database.add_credential("kiosk", "K2", "BJ-001")
    server = await start_serve(data_dir, port)
    try:
        kiosk = Kiosk(url, kiosk_token, open_source("synthetic", KIOSK_LOOK), think_s=0.1)
        agent = ScriptedAgent(url, tokens[0], open_source("synthetic", AGENT_LOOK), step_s=1.0)
        calls = asyncio.gather(kiosk.run(), agent.run(), return_exceptions=True)
        session_id = None
        for _ in range(300):
            sessions = await database.list_sessions()
            if sessions and sessions[0].workflow_state == "terms_disclosure":
                session_id = sessions[0].id
                break
            await asyncio.sleep(0.05)
        assert session_id is not None
        await asyncio.sleep(0.3)  # into the step: the kiosk acknowledges the documents
        os.kill(server.pid, signal.SIGKILL)
        await server.wait()
        await asyncio.wait_for(calls, 30)

        server = await start_serve(data_dir, port)
        stored = (await database.get_session(session_id)).session
        assert (str(stored.status), stored.workflow_state) == ("interrupted", "terms_disclosure")
        assert stored.workflow_context["name"] == "张伟"

        # Only the session's own kiosk may resume it.
        stranger = SignalingClient(url, "kiosk", other_kiosk)
        await stranger.connect()
        await stranger.send(Resume(session_id=session_id))
        refused = await stranger.next_message()
        await stranger.close()
        assert isinstance(refused, Error) and refused.code == "unauthorised", refused

        kiosk = Kiosk(
            url, kiosk_token, open_source("synthetic", KIOSK_LOOK), resume=session_id, think_s=0.1
        )
        agent = ScriptedAgent(url, tokens[1], open_source("synthetic", AGENT_LOOK), step_s=0.5)
        resumed, finished = await asyncio.gather(kiosk.run(), agent.run())
        assert finished.session_id == session_id and resumed.ended is not None
        assert resumed.steps[0] == "terms_disclosure" and resumed.steps[-1] == "completed"
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
            await server.wait()

    detail = await database.get_session(session_id)
    assert (str(detail.session.status), detail.session.recording_parts) == ("ended", 2)
    events = [(e.source, e.event, e.target, e.part) for e in detail.events]
    assert events == [
        ("identity_check", "identity_verified", "consent", 1),
        ("consent", "consent_given", "terms_disclosure", 1),
        ("terms_disclosure", "terms_disclosed", "confirmation", 2),
        ("confirmation", "customer_confirmed", "signature", 2),
        ("signature", "signature_captured", "completed", 2),
    ]
    assert [e.seq for e in detail.evidence] == list(range(1, len(detail.evidence) + 1))
    assert {e.part for e in detail.evidence} == {1, 2}
    # Both parts verify against the server's key: the interrupted one closed at restart.
    key = load_or_create_signing_key(data_dir / "keys" / "recording-signing-key.pem")
    first = data_dir / "recordings" / session_id
    for part, folder in ((1, first), (2, first / "part-2")):
        report = await asyncio.to_thread(verify_recording, folder, key.public_key())
        assert report.ok, (part, report.problems)
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert manifest["part"] == part
        assert ("interrupted" in manifest) == (part == 1)
        files = {e.file for e in detail.evidence if e.part == part}
        assert {item["file"] for item in manifest["evidence"]} == files
        assert files <= {entry["file"] for entry in manifest["chain"]["entries"]}
    # `dualrec verify SESSION_ID` checks every part.
    verify = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dualrec",
        "verify",
        session_id,
        "--data-dir",
        str(data_dir),
        "--json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await verify.communicate()
    assert verify.returncode == 0
    reports = json.loads(out)
    assert [Path(r["path"]).name for r in reports] == [session_id, "part-2"]
    assert all(r["ok"] for r in reports)
