"""Hostile messages: surrogates, deep nesting, huge numbers; every error code documented."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from signaling import ProtocolError, errors, parse_message
from signaling.protocol.wire import MAX_DEPTH, MAX_INT_DIGITS
from signaling.server import error_message
from tests.signaling.test_bad_input import RawSocket
from tests.support import RunningServer

ROOT = Path(__file__).resolve().parents[2]

#: A lone UTF-16 surrogate: ``json.dumps`` sends it as the escape ``\\ud800``.
LONE = "\ud800"
HOSTILE: list[tuple[object, str]] = [
    ({"type": "presence", "state": LONE}, 'field "state" holds a lone UTF-16 surrogate'),
    ({"type": "join", "role": LONE, "token": "t"}, 'field "role" holds a lone'),
    ({"type": "join", "role": "kiosk", "token": "a\udfffb"}, 'field "token" holds a lone'),
    ({"type": "resume", "session_id": LONE}, 'field "session_id" holds a lone'),
    ({"type": "hangup", "reason": f"bye {LONE}"}, 'field "reason" holds a lone'),
    ({"type": LONE}, 'field "type" holds a lone'),
    ({"type": "hangup", LONE: 1}, "a field name in the message holds a lone"),
    (
        {"type": "workflow_event", "event": "e", "data": {"x": [LONE]}},
        'field "data.x[0]" holds a lone',
    ),
    ("[" * 5000 + "]" * 5000, f"nested deeper than {MAX_DEPTH} levels"),
    ('{"type":"hangup","reason":' + "[" * 100 + "]" * 100 + "}", "nested deeper than"),
    (
        '{"type":"ice_candidate","candidate":"c","sdp_mline_index":' + "9" * 5000 + "}",
        "5000 digits",
    ),
    ({"type": "ice_candidate", "candidate": "c", "sdp_mline_index": -(10**16)}, "17 digits"),
    ('{"type":"hangup","reason":1e999}', "too large to be held"),
    ('{"type":"hangup","reason":NaN}', "NaN is not a JSON value"),
]


def _text(data: object) -> str:
    return data if isinstance(data, str) else json.dumps(data)


@pytest.mark.parametrize(("text", "problem"), HOSTILE, ids=range(len(HOSTILE)))
def test_the_parser_names_what_is_wrong(text: object, problem: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_message(_text(text))
    assert refused.value.code == "bad_message"
    assert problem in str(refused.value)
    # What is refused can always be sent back: no surrogate is echoed.
    error_message(refused.value, refused.value.message_type).to_json().encode("utf-8")


def test_paired_surrogates_and_long_enough_numbers_are_fine() -> None:
    message = parse_message('{"type":"hangup","reason":"\\ud83d\\ude00 bye"}')
    assert message.to_dict()["reason"] == "\U0001f600 bye"
    largest = 10**MAX_INT_DIGITS - 1
    parse_message(
        json.dumps({"type": "ice_candidate", "candidate": "c", "sdp_mline_index": largest})
    )
    parse_message('{"type":"hangup","reason":"' + "[" * 100 + '"}')  # brackets in a string


def test_error_replies_never_echo_what_cannot_be_encoded() -> None:
    reply = error_message(errors.SignalingError('session "a\ud800" is ' + "x" * 5000), "b\udc00")
    data = json.loads(reply.to_json().encode("utf-8"))
    assert data["message"].startswith('session "a\\ud800" is ') and len(data["message"]) < 310
    assert data["ref"] == "b\\udc00"


@pytest.fixture
async def raw(server: RunningServer) -> AsyncIterator[RawSocket]:
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        yield RawSocket(ws)


async def each_refused_as_a_bad_message(raw: RawSocket) -> None:
    """Send every HOSTILE message: each is answered ``bad_message`` naming the problem."""
    for text, problem in HOSTILE:
        code, message = await raw.error(text)
        assert (code, problem in message) == ("bad_message", True), (
            _text(text)[:80],
            code,
            message,
        )


async def test_the_socket_answers_each_with_bad_message_and_no_traceback(
    server: RunningServer, raw: RawSocket, caplog: pytest.LogCaptureFixture
) -> None:
    """Before the fix a surrogate closed the socket (1006) and nesting logged a RecursionError."""
    caplog.set_level(logging.INFO)
    agent_token = await server.db.add_credential("agent", "hostile")
    await each_refused_as_a_bad_message(raw)
    # The same socket still works, and joined, it is refused the same way.
    await raw.send({"type": "join", "role": "agent", "token": agent_token})
    assert (await raw.reply())["type"] == "joined"
    await each_refused_as_a_bad_message(raw)
    assert not raw.ws.closed
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert failures == [], [r.getMessage() for r in failures]


#: Modules whose SignalingErrors are answered over HTTP, never as a socket ``error``.
HTTP_ONLY = frozenset({"signaling.throttle"})  # sign-in throttling: HTTP 429


def _server_error_codes() -> set[str]:
    """Every ``code`` set in the modules that make errors, ``error_message``'s included."""
    codes: set[str] = set()
    for module in ("signaling/errors.py", "signaling/sockets.py", "signaling/server.py"):
        tree = ast.parse((ROOT / module).read_text("utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and [getattr(t, "id", None) for t in node.targets] == ["code"]
                and isinstance(node.value, ast.Constant)  # ``code = exc.code``: see below
                and isinstance(node.value.value, str)
            ):
                codes.add(node.value.value)
            if (
                isinstance(node, ast.keyword)
                and node.arg == "code"
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                codes.add(node.value.value)
    return codes


def test_every_error_code_the_server_sends_is_documented() -> None:
    codes = _server_error_codes()
    for cls in _subclasses(errors.SignalingError):
        if cls.__module__ not in HTTP_ONLY:
            codes.add(cls.code)
    assert {"bad_message", "signaling_error", "internal_error", "negotiation_failed"} <= codes
    documented = (ROOT / "docs" / "protocol.md").read_text("utf-8")
    missing = sorted(code for code in codes if f"`{code}`" not in documented)
    assert missing == []


def _subclasses(cls: type[errors.SignalingError]) -> list[type[errors.SignalingError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found
