"""The wire messages: golden fixtures round-trip exactly; bad ones are refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from signaling import CLIENT_MESSAGES, MessageTooLarge, ProtocolError, parse_message
from signaling.protocol import MAX_MESSAGE_BYTES

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "messages.json").read_text("utf-8"))


@pytest.mark.parametrize("data", FIXTURES, ids=[f["type"] for f in FIXTURES])
def test_fixture_round_trips(data: dict[str, Any]) -> None:
    message = parse_message(json.dumps(data))
    assert message.type == data["type"]
    assert message.to_dict() == data
    assert parse_message(message.to_json()) == message


def test_every_message_type_has_a_fixture() -> None:
    from signaling.protocol import MESSAGE_TYPES

    assert set(MESSAGE_TYPES) == {f["type"] for f in FIXTURES}
    assert {m.type for m in CLIENT_MESSAGES} < set(MESSAGE_TYPES)


def test_defaults_fill_optional_fields() -> None:
    message = parse_message('{"type": "request_service", "service": "card_opening"}')
    assert message.to_dict() == {
        "type": "request_service",
        "service": "card_opening",
        "language": "zh-CN",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not valid JSON"),
        ('"join"', "must be a JSON object"),
        ('{"type": 5}', 'no "type" string'),
        ('{"type": "nope"}', 'unknown message type "nope"'),
        ('{"type": "join", "token": "t"}', 'missing field "role" in "join"'),
        (
            '{"type": "join", "role": "kiosk", "token": 1}',
            'field "token" of "join" must be a string',
        ),
        ('{"type": "join", "role": "kiosk", "token": " "}', '"token" must not be empty'),
        ('{"type": "request_service", "service": "x", "language": "fr"}', "language must be one"),
        ('{"type": "accept", "offer_id": 12}', 'field "offer_id" of "accept" must be a string'),
        ('{"type": "offer", "sdp": "hello"}', "not a session description"),
        (
            '{"type": "ice_candidate", "candidate": "c", "sdp_mline_index": true}',
            'field "sdp_mline_index" of "ice_candidate" must be an integer',
        ),
        (
            '{"type": "workflow_event", "event": "x", "data": []}',
            'field "data" of "workflow_event"',
        ),
        ('{"type": "hangup", "extra": 1}', 'unknown field "extra" in "hangup"'),
        ('{"type": "evidence", "kind": "id_photo", "value": "x"}', "kind must be one of"),
        ('{"type": "evidence", "kind": "consent", "value": false}', "can only be given as true"),
        ('{"type": "evidence", "kind": "consent", "value": "yes"}', "must be a boolean"),
        ('{"type": "evidence", "kind": "signature_image", "value": 5}', "must be a string"),
        (
            '{"type": "evidence", "kind": "document_acknowledged", "value": " "}',
            "must not be empty",
        ),
        (
            '{"type": "evidence", "kind": "questionnaire_answers", "value": {"age": 1}}',
            "must map question ids to option ids",
        ),
        ('{"type": "evidence", "kind": "consent"}', 'missing field "value"'),
        ('{"type": "resume", "session_id": ""}', '"session_id" must not be empty'),
    ],
)
def test_bad_messages_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message(text)
    assert problem in str(info.value)


def test_too_large() -> None:
    with pytest.raises(MessageTooLarge):
        parse_message('{"type": "hangup", "reason": "' + "x" * MAX_MESSAGE_BYTES + '"}')


def test_every_message_type_is_documented() -> None:
    from signaling.protocol import MESSAGE_TYPES

    docs = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text("utf-8")
    assert sorted(kind for kind in MESSAGE_TYPES if f"`{kind}`" not in docs) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ('"added": [], "removed": [5], "length": 0', "removed must hold offer ids"),
        ('"added": [{"position": 1}], "removed": [], "length": 1', "must be an object with"),
        ('"added": [{"offer_id": "a"}], "removed": [], "length": 1', "ascending positions"),
        (
            '"added": [{"offer_id": "a", "position": 2}, {"offer_id": "b", "position": 2}], '
            '"removed": [], "length": 2',
            "ascending positions",
        ),
        ('"added": [{"offer_id": "a", "position": 3}], "removed": [], "length": 2', "past the"),
    ],
)
def test_bad_queue_changes_are_refused(changes: str, problem: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message('{"type": "queue_changes", ' + changes + "}")
    assert problem in str(info.value)
