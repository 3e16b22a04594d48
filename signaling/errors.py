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


class InvalidEvidence(SignalingError, ValueError):
    """Evidence that is not what its kind needs: a bad data URL, not an image, too large."""

    code = "bad_evidence"

    def __init__(self, kind: str, step: str, problem: str) -> None:
        super().__init__(f'evidence "{kind}" for step "{step}" refused: {problem}')
        self.kind = kind
        self.step = step
        self.problem = problem


class AnnouncementPending(SignalingError):
    """A step's forward event before its spoken announcement has been played to the end."""

    code = "step_refused"

    def __init__(self, flow: str, step: str, event: str, problem: str) -> None:
        super().__init__(f'event "{event}" is refused in step "{step}" of flow "{flow}": {problem}')
        self.step = step
        self.problem = problem


class CallTransitionNotAllowed(OutOfOrder):
    """A call lifecycle step that is not allowed in the call's current state."""

    def __init__(self, call: str, state: str, event: str) -> None:
        super().__init__(event, state)
        self.call = call
        self.event = event


class RecordingFailed(SignalingError):
    """The call cannot be recorded (the recordings disk is full): it ends as failed."""

    code = "recording_failed"
    #: The reason stored with the session and sent in ``session_ended``.
    reason = "recording failed: the recordings disk is full"

    def __init__(self) -> None:
        super().__init__(
            "the call cannot be recorded (the server's disk is full): it has ended and is "
            "not valid; please try again later"
        )
