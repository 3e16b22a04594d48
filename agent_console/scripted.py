"""A scripted agent (aiortc): takes the next customer and walks the workflow to the end.

At each step it waits (up to ``evidence_timeout_s``) for the customer's evidence to
arrive, as the server's ``workflow_state`` updates show, then sends the step's
event with the data of its script (agent_console.scripts) and the agent-side
evidence: an ID photo taken by the server from the kiosk's video, and the mark of
the customer's spoken confirmation. If the evidence never comes, it tries anyway
and, refused, aborts the session with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from signaling import (
    Accept,
    Error,
    Hangup,
    Matched,
    PeerReconnecting,
    QueueChanges,
    QueueState,
    QueueView,
    ServerRefused,
    SessionEnded,
    SignalingClient,
    WorkflowEventMessage,
    WorkflowState,
)
from workflow import ABORT_EVENT

from .scripts import Script, StepPlan, script_for

logger = logging.getLogger(__name__)

#: The evidence the agent's own event carries.
AGENT_EVIDENCE = frozenset({"id_photo", "spoken_confirmation"})
#: How long an event's answer is still waited for once the customer dropped out under it.
ANSWER_AFTER_DROP_S = 5.0


@dataclass
class AgentResult:
    """What the scripted agent did."""

    session_id: str | None = None
    steps: list[WorkflowState] = field(default_factory=list)
    refusals: list[Error] = field(default_factory=list)
    received_frames: dict[str, int] = field(default_factory=dict)
    ended: SessionEnded | None = None


class ScriptedAgent:
    """An agent that accepts the first waiting customer and advances every step."""

    def __init__(
        self,
        url: str,
        token: str,
        tracks: list[MediaStreamTrack],
        *,
        step_s: float = 2.0,
        script: Script | None = None,
        evidence_timeout_s: float = 30.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.client = SignalingClient(url, "agent", token)
        self.tracks = tracks
        # Closing a peer connection stops its tracks: each connection gets its own
        # subscription, so the camera outlives a customer's reconnection.
        self._relay = MediaRelay()
        self.step_s = step_s
        self.script = script
        self.evidence_timeout_s = evidence_timeout_s
        self._progress = progress or (lambda text: None)
        #: How many times the customer's connection dropped and came back.
        self.reconnections = 0
        #: The last workflow state the server sent.
        self._latest: WorkflowState | None = None
        #: The queue as this agent was told it (``queue``, then ``queue_changes``).
        self.queue = QueueView()
        #: Events sent whose answer was given up on (see ``_transition``).
        self._unanswered = 0

    async def run(self) -> AgentResult:
        """Take one call from the queue and see it through to hang-up."""
        result = AgentResult()
        client = self.client
        try:
            joined = await client.connect()
            self._progress(f"agent {joined.name} signed in, waiting for a customer")
            matched = await self._take_next_customer()
            result.session_id = matched.session_id
            script = self.script if self.script is not None else script_for(matched.flow)
            state = await client.expect(WorkflowState)
            result.steps.append(state)
            await client.negotiate(self._subscriptions())
            await self._wait_for_media()
            while not state.terminal:
                state = await self._wait_for_evidence(state)
                await client.pause(self.step_s)
                try:
                    state = await self._advance(state, script.get(state.state), result)
                except ServerRefused as exc:
                    if exc.error.code not in ("out_of_order", "transition_not_allowed"):
                        raise
                    # The customer dropped out under the event (or the call moved to another
                    # node meanwhile): go on from where the server says the call is.
                    self._progress(f"not now: {exc.error.message}")
                    state = self._latest or state
                    continue
                result.steps.append(state)
                self._progress(f"step {state.state} ({state.title})")
            await client.pause(self.step_s)
            await client.send(Hangup(reason="completed" if state.state != "aborted" else "aborted"))
            result.ended = await self._ended()
            result.received_frames = dict(client.received_frames)
        finally:
            for track in self.tracks:
                track.stop()
            await client.close()
        return result

    async def _ended(self) -> SessionEnded:
        """The end of the call; a late refusal of an event sent twice (the call moved to
        another node under it) is passed over."""
        while True:
            try:
                return await self.client.expect(SessionEnded)
            except ServerRefused as exc:
                if exc.error.ref != "workflow_event":
                    raise

    async def _wait_for_evidence(self, state: WorkflowState) -> WorkflowState:
        """The step's state once nothing but the agent's own evidence is missing.

        The customer gets ``evidence_timeout_s`` for each piece; an announcement being
        played is waited for to its end (it is finite, and the step needs it).
        """
        dropped = self.reconnections
        while True:
            waiting = [kind for kind in state.missing if kind not in AGENT_EVIDENCE]
            if not waiting:
                return state
            limit = 600.0 if waiting == ["tts_played"] else self.evidence_timeout_s
            try:
                update = await self._next_state(limit)
            except TimeoutError:
                return state  # the event is refused and the session aborted with why
            except ServerRefused as exc:
                if exc.error.code != "tts_failed":
                    raise
                self._progress(f"announcement failed: {exc.error.message}")
                return state
            if update.state == state.state or self.reconnections > dropped:
                # After the customer came back the call may be at another step than this.
                state, dropped = update, self.reconnections

    def _subscriptions(self) -> list[MediaStreamTrack]:
        return [self._relay.subscribe(track) for track in self.tracks]

    async def _next_state(self, timeout: float) -> WorkflowState:
        """The next workflow state; a customer who drops out is waited for, then re-met."""
        while True:
            message = await self.client.next_message(timeout)
            if isinstance(message, WorkflowState):
                self._latest = message
                return message
            if isinstance(message, Error):
                if message.ref == "workflow_event" and self._unanswered:
                    # The late answer to an event given up on (see _transition).
                    self._unanswered -= 1
                    continue
                raise ServerRefused(message)
            if isinstance(message, PeerReconnecting):
                self._progress("the customer's connection dropped: waiting for them")
                self.reconnections += 1
                timeout = 120.0
            elif isinstance(message, Matched):
                self._progress("the customer is back: negotiating again")
                await self.client.negotiate(self._subscriptions())

    async def _advance(
        self, state: WorkflowState, plan: StepPlan | None, result: AgentResult
    ) -> WorkflowState:
        """Send the step's event (trying the plan's events in turn); the state it leads to."""
        forward = [event for event in state.events if event != ABORT_EVENT]
        events = [e for e in (plan.events if plan else forward[:1]) if e in state.events]
        data: dict[str, Any] = dict(plan.data) if plan else {}
        evidence = {}
        if "id_photo" in state.missing:
            evidence["id_photo"] = "capture"  # the server takes the still from the video
        if "spoken_confirmation" in state.missing:
            evidence["spoken_confirmation"] = state.confirmation_phrase or "confirmed aloud"
        if evidence:
            data["evidence"] = evidence
        for event in events:
            await self.client.send(WorkflowEventMessage(event=event, data=data))
            try:
                return await self._transition(event)
            except ServerRefused as exc:
                if exc.error.code != "step_refused":
                    raise
                result.refusals.append(exc.error)
                self._progress(f"refused: {exc.error.message}")
        missing = ", ".join(state.missing) or "a guard failed"
        reason = f"the step {state.state} cannot be completed ({missing})"
        await self.client.send(WorkflowEventMessage(event=ABORT_EVENT, reason=reason))
        return await self._transition(ABORT_EVENT)

    async def _transition(self, event: str) -> WorkflowState:
        """The state after ``event``: its answer, the state it led to or a refusal (raised).

        Updates in between (evidence arriving, the call resumed) are not its answer and
        are skipped. If the customer dropped out meanwhile, the answer is waited for a
        little longer (``ANSWER_AFTER_DROP_S``): the event may have been lost with a node
        that died. An answer given up on is passed over when it comes after all.
        """
        dropped = self.reconnections
        loop = asyncio.get_running_loop()
        give_up_at: float | None = None
        while True:
            timeout = 30.0 if give_up_at is None else give_up_at - loop.time()
            try:
                state = await self._next_state(max(timeout, 0.01))
            except TimeoutError:
                if give_up_at is None or self._latest is None:
                    raise
                self._unanswered += 1
                return self._latest
            if state.event == event:
                return state
            if self.reconnections > dropped and give_up_at is None:
                give_up_at = loop.time() + ANSWER_AFTER_DROP_S

    async def _take_next_customer(self) -> Matched:
        """Accept the head of the queue; another agent may be quicker, then wait again."""
        client = self.client
        while True:
            if not await self._queue_update():
                continue
            await client.send(Accept())
            try:
                return await client.expect(Matched)
            except ServerRefused as exc:
                if exc.error.code != "out_of_order":
                    raise

    async def _queue_update(self) -> bool:
        """Apply the next ``queue`` or ``queue_changes`` to ``self.queue``: anyone waiting?"""
        async with asyncio.timeout(600.0):
            while True:
                message = await self.client.next_message(timeout=600.0)
                if isinstance(message, Error):
                    raise ServerRefused(message)
                if isinstance(message, QueueState | QueueChanges):
                    break
        try:
            self.queue.apply(message)
        except ValueError as exc:
            # Not what the server holds (a bug): ask for the head; the server knows.
            logger.warning("the queue as told does not add up: %s", exc)
            return True
        return bool(self.queue.offers)

    async def _wait_for_media(self, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while min(self.client.received_frames.values()) == 0:
                await asyncio.sleep(0.1)
