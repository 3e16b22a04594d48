"""Reasons on the wire: bounded, and ID numbers masked before anything logs or stores them."""

from __future__ import annotations

import json

import pytest

from common import MAX_REASON_CHARS
from signaling import ProtocolError, parse_message
from signaling.protocol import Hangup, WorkflowEventMessage

TYPED = "客户读出身份证号 １１０１０５－１９８５０６１５－１２３６"
MASKED = "客户读出身份证号 **************1236"


@pytest.mark.parametrize(
    "data",
    [
        {"type": "hangup", "reason": TYPED},
        {"type": "workflow_event", "event": "identity_verified", "reason": TYPED},
    ],
)
def test_an_id_number_in_a_reason_is_masked_when_parsed(data: dict[str, str]) -> None:
    message = parse_message(json.dumps(data))
    assert isinstance(message, Hangup | WorkflowEventMessage)
    assert message.reason == MASKED
    assert "1985" not in message.to_json()


@pytest.mark.parametrize(
    "data",
    [
        {"type": "hangup", "reason": "x" * (MAX_REASON_CHARS + 1)},
        {"type": "workflow_event", "event": "e", "reason": "x" * (MAX_REASON_CHARS + 1)},
    ],
)
def test_a_reason_over_the_limit_is_a_bad_message_naming_the_limit(
    data: dict[str, str],
) -> None:
    with pytest.raises(ProtocolError, match=f'"reason" is longer than {MAX_REASON_CHARS}'):
        parse_message(json.dumps(data))


def test_a_reason_at_the_limit_and_the_default_are_kept() -> None:
    assert parse_message(json.dumps({"type": "hangup"})) == Hangup(reason="hangup")
    at_limit = {"type": "hangup", "reason": "x" * MAX_REASON_CHARS}
    assert parse_message(json.dumps(at_limit)) == Hangup(reason="x" * MAX_REASON_CHARS)
