"""JSON log lines: one object a line, with the node and the session, never personal data.

A real flow runs on the test server with the JSON handler on the root logger; the lines
are parsed back and searched for the customer's ID number and name (given in the flow).
The entry point is checked too: ``dualrec serve --log-format json`` as its own process.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent_console import CUSTOMER
from dualrec.settings import Settings, SettingsError
from observability import SESSION_ID, JsonLines, log_handler
from tests.support import RunningServer, free_port, run_flow, start_serve

FULL_ID = str(CUSTOMER["id_number"])
NAME = str(CUSTOMER["name"])
SESSION = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The usual test server, named as a node."""
    return Settings(data_dir=tmp_path / "var", segment_s=3.0, tts_speed_wpm=900, node_id="node-b")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every INFO record of the process, as ``--log-format json`` writes it, for this test."""
    stream = io.StringIO()
    handler = log_handler("json", "node-b", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def parsed(text: str) -> list[dict[str, Any]]:
    """Each line as its JSON object (each line must be one)."""
    return [json.loads(line) for line in text.splitlines()]


async def test_a_flow_s_log_lines_name_node_and_session_and_no_personal_data(
    server: RunningServer, json_log: io.StringIO
) -> None:
    run = await run_flow(server, "card_opening")
    text = json_log.getvalue()
    lines = parsed(text)
    assert len(lines) > 20
    assert {line["node"] for line in lines} == {"node-b"}
    assert {"time", "level", "logger", "message", "session_id"} <= set(lines[0])
    about = [line for line in lines if line["session_id"] == run.session_id]
    assert len(about) > 10, [line["message"] for line in lines][:40]
    assert all(SESSION.fullmatch(line["session_id"]) for line in lines if line["session_id"])
    # Some lines carry the session without naming it: the handled message's context.
    assert any(run.session_id not in line["message"] for line in about)
    # The customer gave an ID number and a name in the flow; neither reached a log line.
    assert FULL_ID not in text
    assert NAME not in text  # written as is (ensure_ascii=False), so it would be found


def test_the_session_comes_from_extra_context_or_message_and_id_numbers_are_masked() -> None:
    formatter = JsonLines("node-c")

    def line(message: str, *args: object, **extra: Any) -> dict[str, Any]:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, message, args, None)
        record.__dict__.update(extra)
        out = formatter.format(record)
        assert "\n" not in out
        return dict(json.loads(out))

    given, current, named = "a" * 32, "b" * 32, "c" * 32
    assert line("hello", session_id=given)["session_id"] == given
    token = SESSION_ID.set(current)
    try:
        assert line("hello")["session_id"] == current
        assert line("hello", session_id=given)["session_id"] == given
    finally:
        SESSION_ID.reset(token)
    assert line("session %s: queued", named)["session_id"] == named
    assert line("nothing about a session")["session_id"] is None
    masked = line("typed %s\nin a reason", FULL_ID)
    assert FULL_ID not in masked["message"] and masked["message"].endswith("\nin a reason")
    assert masked["node"] == "node-c"
    try:
        raise ValueError(f"bad {FULL_ID}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(formatter.format(record))
    assert "ValueError" in out["exception"] and FULL_ID not in out["exception"]


def test_log_format_and_metrics_token_settings() -> None:
    with pytest.raises(SettingsError, match="log_format"):
        Settings(log_format="xml")
    env = {"DUALREC_LOG_FORMAT": "json", "DUALREC_METRICS_TOKEN": " s3cret-token "}
    settings = Settings.from_environment(env)
    assert settings.log_format == "json" and settings.metrics_token == "s3cret-token"
    assert "s3cret" not in repr(settings)


async def test_dualrec_serve_writes_json_lines(tmp_path: Path) -> None:
    port, output = free_port(), tmp_path / "serve.log"
    process = await start_serve(
        tmp_path / "var", port, "--log-format", "json", "--node-id", "node-d", output=output
    )
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz?x={FULL_ID}") as response,
        ):
            assert response.status == 200
    finally:
        process.terminate()
        await process.wait()
    lines = parsed(output.read_text())
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    assert access and all(line["node"] == "node-d" for line in lines)
    assert any("GET /healthz" in line["message"] for line in access)
    assert FULL_ID not in output.read_text()
