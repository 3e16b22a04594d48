"""A scripted agent (aiortc): takes the next customer and walks the workflow to the end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamTrack

from signaling import (
    Accept,
    Hangup,
    Matched,
    QueueState,
    ServerRefused,
    SessionEnded,
    SignalingClient,
    WorkflowEventMessage,
    WorkflowState,
)
from workflow import ABORT_EVENT

logger = logging.getLogger(__name__)


@dataclass
class AgentResult:
    """What the scripted agent did."""

    session_id: str | None = None
    steps: list[WorkflowState] = field(default_factory=list)
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
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.client = SignalingClient(url, "agent", token)
        self.tracks = tracks
        self.step_s = step_s
        self._progress = progress or (lambda text: None)

    async def run(self) -> AgentResult:
        """Take one call from the queue and see it through to hang-up."""
        result = AgentResult()
        client = self.client
        try:
            joined = await client.connect()
            self._progress(f"agent {joined.name} signed in, waiting for a customer")
            matched = await self._take_next_customer()
            result.session_id = matched.session_id
            state = await client.expect(WorkflowState)
            result.steps.append(state)
            await client.negotiate(self.tracks)
            await self._wait_for_media()
            while not state.terminal:
                await client.pause(self.step_s)
                event = next(e for e in state.events if e != ABORT_EVENT)
                await client.send(WorkflowEventMessage(event=event))
                state = await client.expect(WorkflowState)
                result.steps.append(state)
                self._progress(f"step {state.state} ({state.title})")
            await client.pause(self.step_s)
            await client.send(Hangup(reason="completed"))
            result.ended = await client.expect(SessionEnded)
            result.received_frames = dict(client.received_frames)
        finally:
            for track in self.tracks:
                track.stop()
            await client.close()
        return result

    async def _take_next_customer(self) -> Matched:
        """Accept the head of the queue; another agent may be quicker, then wait again."""
        client = self.client
        while True:
            queue = await client.expect(QueueState, timeout=600.0)
            if not queue.waiting:
                continue
            await client.send(Accept())
            try:
                return await client.expect(Matched)
            except ServerRefused as exc:
                if exc.error.code != "out_of_order":
                    raise

    async def _wait_for_media(self, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while min(self.client.received_frames.values()) == 0:
                await asyncio.sleep(0.1)
