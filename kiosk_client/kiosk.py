"""The branch kiosk as an aiortc client: ask for a service, wait, talk, follow the steps.

At each step the kiosk gives the evidence that is the customer's to give, as the
server's ``workflow_state`` lists it under ``missing``: ticks and consent, document
acknowledgements, questionnaire answers (from a scripted answer set) and a signature
drawn on the pad.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from signaling import (
    KIOSK_EVIDENCE,
    Error,
    EvidenceMessage,
    Matched,
    QueuePosition,
    RequestService,
    Resume,
    SessionEnded,
    SignalingClient,
    SignalingError,
    WorkflowState,
)

from .signature import draw_signature, png_data_url

logger = logging.getLogger(__name__)

#: A customer who scores C4 (growth) on the risk questionnaire.
GROWTH_ANSWERS: Mapping[str, str] = {
    "age": "b",
    "annual_income": "c",
    "investment_share": "c",
    "income_source": "b",
    "debt": "c",
    "experience_years": "c",
    "products_held": "b",
    "knowledge": "c",
    "horizon": "c",
    "loss_tolerance": "c",
}
#: A customer who can bear no loss of capital: C1 whatever the rest scores.
CAUTIOUS_ANSWERS: Mapping[str, str] = {**GROWTH_ANSWERS, "loss_tolerance": "a"}


@dataclass
class KioskResult:
    """What the kiosk saw of its session."""

    session_id: str | None = None
    positions: list[int] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    evidence: list[tuple[str, str]] = field(default_factory=list)
    errors: list[Error] = field(default_factory=list)
    received_frames: dict[str, int] = field(default_factory=dict)
    ended: SessionEnded | None = None


class Kiosk:
    """One kiosk session: request (or resume) a service, queue, negotiate, follow to the end."""

    def __init__(
        self,
        url: str,
        token: str,
        tracks: list[MediaStreamTrack],
        *,
        service: str = "card_opening",
        language: str = "zh-CN",
        video_codecs: tuple[str, ...] = (),
        answers: Mapping[str, str] = GROWTH_ANSWERS,
        resume: str | None = None,
        think_s: float = 0.2,
        withhold: frozenset[str] = frozenset(),
        progress: Callable[[str], None] | None = None,
        reconnect_s: float = 0.0,
    ) -> None:
        self.client = SignalingClient(url, "kiosk", token, video_codecs=video_codecs)
        self._connection = (url, token, tuple(video_codecs))
        #: How long to keep trying to reconnect (and resume) when the server goes away,
        #: as the kiosk page does; 0 gives up at once.
        self.reconnect_s = reconnect_s
        #: The connections the visit took: 1, then one more per reconnection.
        self.connections = 1
        self.tracks = tracks
        self._relay = MediaRelay()
        self.service = service
        self.language = language
        self.answers = answers
        self.resume = resume
        self.think_s = think_s
        #: Evidence kinds this customer never gives (tests: no signature, no completion).
        self.withhold = withhold
        self._progress = progress or (lambda text: None)
        self._given: set[tuple[str, str]] = set()

    async def run(self) -> KioskResult:
        """Run the whole visit; returns when the session has ended."""
        result = KioskResult(session_id=self.resume)
        try:
            joined = await self.client.connect()
            if self.resume is None:
                self._progress(f"kiosk {joined.name} joined, asking for {self.service}")
                await self.client.send(RequestService(service=self.service, language=self.language))
            else:
                self._progress(f"kiosk {joined.name} joined, resuming {self.resume}")
                await self.client.send(Resume(session_id=self.resume, language=self.language))
            while result.ended is None:
                try:
                    await self._step(result)
                except SignalingError as exc:
                    if (
                        not self.reconnect_s
                        or result.session_id is None
                        or "closed" not in str(exc)
                    ):
                        raise
                    await self._reconnect(result.session_id)
            result.received_frames = dict(self.client.received_frames)
        finally:
            for track in self.tracks:
                track.stop()
            await self.client.close()
        return result

    async def _reconnect(self, session_id: str) -> None:
        """The server went away: connect again (through the same address) and resume."""
        await self.client.close()
        deadline = asyncio.get_running_loop().time() + self.reconnect_s
        delay = 0.5
        while True:
            url, token, codecs = self._connection
            self.client = SignalingClient(url, "kiosk", token, video_codecs=codecs)
            try:
                await self.client.connect()
                break
            except (OSError, SignalingError, aiohttp.ClientError) as exc:
                await self.client.close()
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise SignalingError(f"the kiosk could not reconnect: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4.0)
        self.connections += 1
        self._given.clear()
        self._progress(f"kiosk reconnected, resuming {session_id}")
        await self.client.send(Resume(session_id=session_id, language=self.language))

    async def _step(self, result: KioskResult) -> None:
        """Read and act on the server's next message."""
        client = self.client
        message = await client.next_message(timeout=600.0)
        if isinstance(message, QueuePosition):
            result.session_id = message.session_id
            result.positions.append(message.position)
            self._progress(f"kiosk waiting: position {message.position} of {message.waiting}")
        elif isinstance(message, Matched):
            self._progress(f"kiosk connected with agent {message.peer}")
            # Subscriptions, so that the camera outlives a connection that drops.
            await client.negotiate([self._relay.subscribe(track) for track in self.tracks])
            # The step's state arrives while negotiating (and is passed over there).
            states = [m for m in client.history if isinstance(m, WorkflowState)]
            if states:
                await self._follow(states[-1], result)
        elif isinstance(message, WorkflowState):
            await self._follow(message, result)
        elif isinstance(message, Error):
            logger.warning("kiosk: the server refused %s: %s", message.ref, message.message)
            result.errors.append(message)
        elif isinstance(message, SessionEnded):
            result.ended = message

    async def _follow(self, state: WorkflowState, result: KioskResult) -> None:
        if not result.steps or result.steps[-1] != state.state:
            result.steps.append(state.state)
        await self._give_evidence(state, result)

    async def _give_evidence(self, state: WorkflowState, result: KioskResult) -> None:
        """Give what the step still needs from the customer, once per step and kind."""
        kinds = [
            kind
            for kind in state.missing
            if kind in KIOSK_EVIDENCE
            and kind not in self.withhold
            and (state.state, kind) not in self._given
        ]
        if state.terminal or not kinds:
            return
        # Evidence is taken once the call (and so its recording) is under way.
        await self._wait_for_media()
        for kind in kinds:
            self._given.add((state.state, kind))
            for value in await self._values(kind, state):
                await self.client.pause(self.think_s)
                await self.client.send(EvidenceMessage(kind=kind, value=value, step=state.state))
                result.evidence.append((state.state, kind))
                self._progress(f"kiosk gave {kind} in {state.state}")

    async def _values(self, kind: str, state: WorkflowState) -> list[Any]:
        if kind == "document_acknowledged":
            return [document["id"] for document in state.documents] or ["read"]
        if kind == "questionnaire_answers":
            ids = [question["id"] for question in state.questions]
            chosen = {
                q["id"]: self.answers.get(q["id"], q["options"][0]["id"]) for q in state.questions
            }
            return [{question: chosen[question] for question in ids}]
        if kind == "signature_image":
            png = await asyncio.to_thread(draw_signature, state.session_id)
            return [png_data_url(png)]
        return [True]

    async def _wait_for_media(self, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while min(self.client.received_frames.values()) == 0:
                await asyncio.sleep(0.05)
