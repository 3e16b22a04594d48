"""The branch kiosk as an aiortc client: ask for a service, wait, talk, follow the steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamTrack

from signaling import (
    Matched,
    QueuePosition,
    RequestService,
    SessionEnded,
    SignalingClient,
    WorkflowState,
)

logger = logging.getLogger(__name__)


@dataclass
class KioskResult:
    """What the kiosk saw of its session."""

    session_id: str | None = None
    positions: list[int] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    received_frames: dict[str, int] = field(default_factory=dict)
    ended: SessionEnded | None = None


class Kiosk:
    """One kiosk session: request a service, queue, negotiate, follow until hang-up."""

    def __init__(
        self,
        url: str,
        token: str,
        tracks: list[MediaStreamTrack],
        *,
        service: str = "card_opening",
        language: str = "zh-CN",
        video_codecs: tuple[str, ...] = (),
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.client = SignalingClient(url, "kiosk", token, video_codecs=video_codecs)
        self.tracks = tracks
        self.service = service
        self.language = language
        self._progress = progress or (lambda text: None)

    async def run(self) -> KioskResult:
        """Run the whole visit; returns when the session has ended."""
        result = KioskResult()
        client = self.client
        try:
            joined = await client.connect()
            self._progress(f"kiosk {joined.name} joined, asking for {self.service}")
            await client.send(RequestService(service=self.service, language=self.language))
            while result.ended is None:
                message = await client.next_message(timeout=600.0)
                if isinstance(message, QueuePosition):
                    result.session_id = message.session_id
                    result.positions.append(message.position)
                    self._progress(
                        f"kiosk waiting: position {message.position} of {message.waiting}"
                    )
                elif isinstance(message, Matched):
                    self._progress(f"kiosk connected with agent {message.peer}")
                    await client.negotiate(self.tracks)
                elif isinstance(message, WorkflowState):
                    result.steps.append(message.state)
                elif isinstance(message, SessionEnded):
                    result.ended = message
            result.received_frames = dict(client.received_frames)
        finally:
            for track in self.tracks:
                track.stop()
            await client.close()
        return result
