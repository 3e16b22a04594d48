"""A kiosk whose connection drops mid-call comes back to the same agent at the same step."""

from __future__ import annotations

import asyncio

from agent_console import ScriptedAgent
from kiosk_client import Kiosk, open_source
from media import load_or_create_signing_key
from media.verify import verify_recording
from signaling import Presence, SignalingClient
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.support import RunningServer


async def _wait_for_step(server: RunningServer, step: str) -> str:
    for _ in range(600):
        sessions = await server.db.list_sessions()
        if sessions and sessions[0].workflow_state == step:
            return sessions[0].id
        await asyncio.sleep(0.05)
    raise AssertionError(f"the session never reached {step}")


async def test_a_dropped_kiosk_resumes_with_the_same_agent_at_the_same_step(
    server: RunningServer,
) -> None:
    kiosk_token = await server.db.add_credential("kiosk", "BJ-001-K1", "BJ-001")
    agent_token = await server.db.add_credential("agent", "ann")
    first = Kiosk(server.ws_url, kiosk_token, open_source("synthetic", KIOSK_LOOK), think_s=0.1)
    agent = ScriptedAgent(
        server.ws_url, agent_token, open_source("synthetic", AGENT_LOOK), step_s=0.6
    )
    agent_run = asyncio.ensure_future(agent.run())
    first_run = asyncio.ensure_future(first.run())
    session_id = await _wait_for_step(server, "terms_disclosure")
    await asyncio.sleep(0.3)

    # The network goes: the kiosk's socket closes in the middle of the step.
    first_run.cancel()
    await asyncio.gather(first_run, return_exceptions=True)
    for _ in range(600):  # closing the part takes a while on a busy machine
        if session_id in server.centre.held:
            break
        await asyncio.sleep(0.05)
    held = server.centre.held[session_id]
    assert held.agent is not None and held.agent.name == "ann"
    assert held.call.state == "held"
    stored = (await server.db.get_session(session_id)).session
    assert (str(stored.status), stored.workflow_state) == ("interrupted", "terms_disclosure")

    # The kiosk comes back and resumes: no queue, the same agent, the same step.
    again = Kiosk(
        server.ws_url,
        kiosk_token,
        open_source("synthetic", KIOSK_LOOK),
        think_s=0.1,
        resume=session_id,
    )
    kiosk_result, agent_result = await asyncio.wait_for(asyncio.gather(again.run(), agent_run), 120)
    assert agent.reconnections == 1
    assert kiosk_result.session_id == session_id == agent_result.session_id
    assert kiosk_result.steps[0] == "terms_disclosure"
    assert agent_result.steps[-1].state == "completed"
    detail = await server.db.get_session(session_id)
    assert str(detail.session.status) == "ended"
    assert detail.session.recording_parts == 2
    key = load_or_create_signing_key(server.settings.signing_key_path).public_key()
    for folder in (
        server.settings.recordings_dir / session_id,
        server.settings.recordings_dir / session_id / "part-2",
    ):
        report = verify_recording(folder, key)
        assert report.ok, report.problems


async def test_agents_set_their_presence_but_never_busy(server: RunningServer) -> None:
    agent = SignalingClient(server.ws_url, "agent", await server.db.add_credential("agent", "bo"))
    await agent.connect()
    try:
        assert (await agent.expect(Presence)).state == "available"
        await agent.send(Presence(state="away"))
        assert (await agent.expect(Presence)).state == "away"
        overview = server.centre.roster.overview()
        assert [(a["name"], a["presence"]) for a in overview] == [("bo", "away")]
        # Busy is the server's to set.
        await agent.send(Presence(state="busy"))
        error = await agent.next_message()
        assert error.type == "error" and "busy" in error.message  # type: ignore[attr-defined]
    finally:
        await agent.close()
