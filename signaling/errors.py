"""Errors of the signalling layer."""

from __future__ import annotations


class SignalingError(Exception):
    """Root of the signalling errors; ``code`` is what the client sees."""

    code = "signaling_error"


class ProtocolError(SignalingError, ValueError):
    """A message is malformed: not JSON, unknown type, missing or wrong fields."""

    code = "bad_message"

    def __init__(self, message: str, *, message_type: str | None = None) -> None:
        super().__init__(message)
        self.message_type = message_type


class MessageTooLarge(ProtocolError):
    """A message is larger than the server accepts."""

    code = "message_too_large"


class Unauthorised(SignalingError, PermissionError):
    """The sender has not joined, or its role may not send this message."""

    code = "unauthorised"


class OutOfOrder(SignalingError):
    """The message is valid but not now: e.g. an answer before an offer."""

    code = "out_of_order"

    def __init__(self, message_type: str, state: str) -> None:
        super().__init__(f'cannot handle "{message_type}" in state "{state}"')
        self.message_type = message_type
        self.state = state
