"""Spoken disclosures: a step's announcement played into the call and kept as evidence.

The speech is ``media.speech``'s (espeak-ng, then Opus into the agent's track); this module
starts it when a step with an announcement begins, records that it was played to the end
(the ``tts_played`` record in the step's evidence), and tells the agent if it failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from common import TTS_PLAYED
from media import MediaError
from media.evidence import record
from media.speech import ENGINE as SPEECH_ENGINE
from media.speech import synthesise

from .errors import AnnouncementPending
from .evidence import EvidenceKeeper
from .protocol import Error
from .session import LiveSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TtsSettings:
    """How announcements are spoken."""

    speed_wpm: int = 175


class Announcer:
    """Plays each step's announcement once per recording part and records it."""

    def __init__(
        self,
        keeper: EvidenceKeeper,
        tell_state: Callable[[LiveSession], Awaitable[None]],
        tts: TtsSettings | None = None,
    ) -> None:
        self.keeper = keeper
        self._tell_state = tell_state
        self.tts = tts or TtsSettings()

    def start(self, session: LiveSession) -> None:
        """Start the current step's announcement, unless played or playing already."""
        step, run = session.step, session.step_run
        idle = run.announcing is None or run.announcing.done()
        if step.tts and session.recording and step.name not in run.announced and idle:
            run.announcement_error = None
            run.announcing = session.tasks.spawn(self._announce(session, step.name))

    def check_played(self, session: LiveSession, event: str) -> None:
        """Refuse ``event`` while the current step's announcement has not played to the end."""
        run = session.step_run
        if session.state in run.announced:
            return
        problem = run.announcement_error or "the announcement has not been played to the end"
        raise AnnouncementPending(session.flow.name, session.state, event, problem)

    def stop(self, session: LiveSession) -> None:
        """The call is ending: stop the announcement under way."""
        if session.step_run.announcing is not None:
            session.step_run.announcing.cancel()

    async def _announce(self, session: LiveSession, step_name: str) -> None:
        step, run = session.flow.step(step_name), session.step_run
        assert step.tts is not None and session.relay is not None
        text = step.tts[session.language]
        try:
            samples, rate = await synthesise(text, session.language, speed_wpm=self.tts.speed_wpm)
            start = session.offset_ms()
            duration = await session.relay.play_announcement(samples, rate)
            end = session.offset_ms()
        except (MediaError, OSError) as exc:
            run.announcement_error = f"the announcement could not be played: {exc}"
            logger.error("session %s: %s", session.id, run.announcement_error)
            if session.agent is not None:
                error = Error(code="tts_failed", message=run.announcement_error, ref=None)
                await asyncio.gather(session.agent.send(error), return_exceptions=True)
            return
        async with session.lock:
            if session.ended or session.state != step_name:
                return
            body = record(
                session.id,
                step_name,
                TTS_PLAYED,
                language=session.language,
                text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                engine=SPEECH_ENGINE,
                start_ms=start,
                end_ms=end,
                duration_s=round(duration, 3),
            )
            item = self.keeper.prepare(session, TTS_PLAYED, body, "json", "server")
            await self.keeper.keep(session, [item], session.context.to_dict())
            run.announced.add(step_name)
        logger.info(
            "session %s: announcement of %s played (%.1f s)", session.id, step_name, duration
        )
        await self._tell_state(session)
