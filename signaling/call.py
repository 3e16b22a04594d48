"""The lifecycle of one call (one recording part of a session), as a state machine.

::

    QUEUED ──match──▶ MATCHED ──offer──▶ CONNECTING ──connected──▶ RECORDING
       │                 │                   │                        │
       └────────┬────────┴─────────┬─────────┴────────────────────────┘
                ▼ close            │
             CLOSING ──end──▶ ENDED        (a finished call, or a customer who left the queue)
                │ ──fail──▶ FAILED        (the recording could not be made whole)
                │ ──interrupt──▶ INTERRUPTED  (cut mid-call; the kiosk may resume it)
                └──hold──▶ HELD ──give_up──▶ ENDED
                              └──release──▶ INTERRUPTED (resumed in a new part, or agent gone)

``HELD`` is an interrupted part whose agent waits for the customer to come back. The final
states are the call's outcome (``CallOutcome``), stored as the session's status. Every
step not in ``TRANSITIONS`` raises ``CallTransitionNotAllowed``: the handlers never derive
where a call stands from flags.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from .errors import CallTransitionNotAllowed

logger = logging.getLogger(__name__)


class CallState(StrEnum):
    """Where a call stands."""

    QUEUED = "queued"
    MATCHED = "matched"
    CONNECTING = "connecting"
    RECORDING = "recording"
    CLOSING = "closing"
    HELD = "held"
    ENDED = "ended"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def outcome(self) -> CallOutcome | None:
        """The call's outcome once it is final, else None."""
        return _OUTCOMES.get(self)

    @property
    def open(self) -> bool:
        """Whether the call has not begun closing yet."""
        return self in _OPEN


class CallOutcome(StrEnum):
    """How a call ended; each is also the stored session status of that name."""

    ENDED = "ended"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class CallEvent(StrEnum):
    """What moves a call on."""

    MATCH = "match"
    OFFER = "offer"
    CONNECTED = "connected"
    CLOSE = "close"
    END = "end"
    FAIL = "fail"
    INTERRUPT = "interrupt"
    HOLD = "hold"
    GIVE_UP = "give_up"
    RELEASE = "release"


_OPEN: Final = frozenset(
    {CallState.QUEUED, CallState.MATCHED, CallState.CONNECTING, CallState.RECORDING}
)
_OUTCOMES: Final[Mapping[CallState, CallOutcome]] = MappingProxyType(
    {
        CallState.ENDED: CallOutcome.ENDED,
        CallState.FAILED: CallOutcome.FAILED,
        CallState.INTERRUPTED: CallOutcome.INTERRUPTED,
    }
)

#: (state, event) -> next state; anything else is refused.
TRANSITIONS: Final[Mapping[tuple[CallState, CallEvent], CallState]] = MappingProxyType(
    {
        (CallState.QUEUED, CallEvent.MATCH): CallState.MATCHED,
        (CallState.MATCHED, CallEvent.OFFER): CallState.CONNECTING,
        (CallState.CONNECTING, CallEvent.OFFER): CallState.CONNECTING,
        (CallState.CONNECTING, CallEvent.CONNECTED): CallState.RECORDING,
        **{(state, CallEvent.CLOSE): CallState.CLOSING for state in _OPEN},
        (CallState.CLOSING, CallEvent.END): CallState.ENDED,
        (CallState.CLOSING, CallEvent.FAIL): CallState.FAILED,
        (CallState.CLOSING, CallEvent.INTERRUPT): CallState.INTERRUPTED,
        (CallState.CLOSING, CallEvent.HOLD): CallState.HELD,
        (CallState.HELD, CallEvent.GIVE_UP): CallState.ENDED,
        (CallState.HELD, CallEvent.RELEASE): CallState.INTERRUPTED,
    }
)

#: How each outcome is reached from CLOSING.
OUTCOME_EVENTS: Final[Mapping[CallOutcome, CallEvent]] = MappingProxyType(
    {
        CallOutcome.ENDED: CallEvent.END,
        CallOutcome.FAILED: CallEvent.FAIL,
        CallOutcome.INTERRUPTED: CallEvent.INTERRUPT,
    }
)


class CallLifecycle:
    """The state of one call, changed only through ``fire``.

    ``t0`` is the Unix time the recording started (set on ``CONNECTED``); ``closed`` is
    set once the call is closed (final, or held for the customer's return); ``since``
    holds when (``time.monotonic()``) each state was last entered.
    """

    def __init__(self, label: str, state: CallState = CallState.QUEUED) -> None:
        self.label = label
        self.state = state
        self.since: dict[CallState, float] = {state: time.monotonic()}
        self.t0: float | None = None
        self.closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<CallLifecycle {self.label} {self.state}>"

    def can(self, event: CallEvent) -> bool:
        """Whether ``event`` is allowed now."""
        return (self.state, event) in TRANSITIONS

    def fire(self, event: CallEvent) -> CallState:
        """Take ``event``: move to the next state, or raise if it is not allowed now."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise CallTransitionNotAllowed(self.label, self.state, event)
        logger.info("call %s: %s -> %s (%s)", self.label, self.state, target, event)
        self.state = target
        self.since[target] = time.monotonic()
        if target is CallState.HELD or target.outcome is not None:
            self.closed.set()
        return target

    def recording_started(self, t0: float) -> None:
        """Both parties are connected and the recording runs from Unix time ``t0``."""
        self.fire(CallEvent.CONNECTED)
        self.t0 = t0

    def finish(self, outcome: CallOutcome) -> CallState:
        """Leave CLOSING with ``outcome``."""
        return self.fire(OUTCOME_EVENTS[outcome])

    @property
    def recording(self) -> bool:
        """Whether the recording is running (both parties connected, not closing)."""
        return self.state is CallState.RECORDING

    @property
    def open(self) -> bool:
        """Whether the call has not begun closing."""
        return self.state.open

    @property
    def outcome(self) -> CallOutcome | None:
        """The outcome, once final."""
        return self.state.outcome
