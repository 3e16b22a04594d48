"""Running a live session's workflow: events, evidence, announcements and step timeouts.

The pure engine (``workflow.advance`` / ``workflow.collect``) decides; this module
carries its effects out: it takes agent-side evidence (an ID photo from the kiosk's
video, a spoken confirmation stamped on the recording), keeps every piece of evidence
(signaling.evidence), stores each transition with the context after it, plays a step's
announcement into the call, and tells both parties what the step still needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from media import MediaError
from media.evidence import Prepared, record, refs
from media.speech import ENGINE as SPEECH_ENGINE
from media.speech import synthesise
from storage import Database
from workflow import (
    ABORT_EVENT,
    Step,
    advance,
    collect,
    expired,
    mask_id,
    missing_evidence,
)

from .errors import AnnouncementPending, InvalidEvidence, OutOfOrder
from .evidence import EvidenceKeeper, decode_signature
from .protocol import Document, Error, EvidenceMessage, WorkflowEventMessage, WorkflowState
from .session import Client, LiveSession

logger = logging.getLogger(__name__)

#: Evidence the agent's event carries, taken or stamped by the server.
AGENT_EVIDENCE = ("id_photo", "spoken_confirmation")
#: Shown in ``missing`` while a step's announcement has not been played to the end.
TTS_PLAYED = "tts_played"
_HIDDEN_FACTS = ("evidence", "answers")


@dataclass(frozen=True)
class TtsSettings:
    """How announcements are spoken."""

    speed_wpm: int = 175


class Conductor:
    """Advances the workflow of live sessions and keeps their evidence."""

    def __init__(
        self,
        db: Database,
        keeper: EvidenceKeeper,
        track: Callable[[LiveSession, Awaitable[Any]], None],
        tts: TtsSettings | None = None,
    ) -> None:
        self.db = db
        self.keeper = keeper
        self._track = track
        self.tts = tts or TtsSettings()

    # -- agent events ------------------------------------------------------------------

    async def on_event(
        self, session: LiveSession, client: Client, message: WorkflowEventMessage
    ) -> None:
        """Take the agent's event: its evidence first, then the transition."""
        async with session.lock:
            if session.ended:
                raise OutOfOrder("workflow_event", "call ended")
            step = session.step
            if message.event != ABORT_EVENT and step.tts and not step.terminal:
                self._check_announced(session, message.event)
            data = dict(message.data)
            items = await self._agent_evidence(session, client, data)
            if items:
                data["evidence"] = {**data["evidence"], **refs(items)}
            await self._transition(
                session, message.event, client.name, reason=message.reason, data=data, items=items
            )

    def _check_announced(self, session: LiveSession, event: str) -> None:
        if session.state in session.announced:
            return
        problem = session.announcement_error or "the announcement has not been played to the end"
        raise AnnouncementPending(session.flow.name, session.state, event, problem)

    async def _agent_evidence(
        self, session: LiveSession, client: Client, data: dict[str, Any]
    ) -> dict[str, Prepared]:
        given = data.get("evidence")
        if not isinstance(given, dict):
            return {}
        step, items = session.step, dict[str, Prepared]()
        for kind, value in given.items():
            if kind not in AGENT_EVIDENCE:
                # Only the kiosk gives the customer's evidence: the agent cannot vouch for it.
                raise InvalidEvidence(
                    kind, step.name, "is the customer's to give (the kiosk's \"evidence\")"
                )
            if kind not in step.evidence:
                continue  # the engine refuses what the step does not take
            if not session.recording:
                raise OutOfOrder("workflow_event", "recording not started: no evidence yet")
            if kind == "id_photo":
                if value != "capture":
                    raise InvalidEvidence(
                        kind, step.name, 'must be "capture": the server takes the still itself'
                    )
                assert session.relay is not None
                still = await session.relay.capture_still("kiosk")
                items[kind] = self.keeper.prepare(
                    session, kind, still.jpeg, "jpg", client.name, offset=len(items)
                )
            else:
                if not isinstance(value, str) or not value.strip() or len(value) > 200:
                    raise InvalidEvidence(kind, step.name, "must be what was heard (1-200 chars)")
                phrase = step.confirmation_phrase
                body = record(
                    session.id,
                    step.name,
                    kind,
                    phrase=None if phrase is None else phrase[session.language],
                    heard=value.strip(),
                    marked_by=client.name,
                    offset_ms=session.offset_ms(),
                    at=datetime.now(UTC).isoformat(),
                )
                items[kind] = self.keeper.prepare(
                    session, kind, body, "json", client.name, offset=len(items)
                )
        return items

    async def _transition(
        self,
        session: LiveSession,
        event: str,
        actor: str,
        *,
        reason: str | None,
        data: dict[str, Any],
        items: dict[str, Prepared],
    ) -> None:
        """Advance, then keep the evidence and the event (the caller holds the lock)."""
        transition = advance(
            session.flow,
            session.state,
            event,
            reason=reason,
            data=data,
            context=session.context,
            now=datetime.now(UTC),
        )
        context = transition.context.to_dict()
        await self.keeper.keep(session, list(items.values()), context)
        offset = session.offset_ms()
        await self.db.add_workflow_event(
            session.id,
            event=transition.event,
            source=transition.source,
            target=transition.target,
            actor=actor,
            at=datetime.now(UTC),
            offset_ms=offset,
            reason=transition.reason,
            data=dict(transition.data),
            context=context,
            part=session.part,
        )
        session.state, session.context = transition.target, transition.context
        session.step_entered = datetime.now(UTC)
        session.acknowledged = {}
        logger.info(
            "session %s: workflow %s -> %s (%s)",
            session.id,
            transition.source,
            transition.target,
            transition.event,
        )
        self.step_started(session)
        await self.send_state(session, event=transition.event, offset_ms=offset)

    # -- kiosk evidence ----------------------------------------------------------------

    async def on_evidence(
        self, session: LiveSession, client: Client, message: EvidenceMessage
    ) -> None:
        """Check, keep and merge one piece of the kiosk's evidence."""
        async with session.lock:
            if session.ended:
                raise OutOfOrder("evidence", "call ended")
            step = session.step
            if message.step is not None and message.step != step.name:
                given = f"step {step.name} (the evidence is for {message.step})"
                raise OutOfOrder("evidence", given)
            if not session.recording:
                raise OutOfOrder("evidence", "recording not started")
            if step.terminal:
                raise OutOfOrder("evidence", f'finished step "{step.name}"')
            kind, value = message.kind, message.value
            if kind not in step.evidence:
                needed = ", ".join(step.evidence) or "none"
                raise InvalidEvidence(kind, step.name, f"not taken in this step (taken: {needed})")
            data: dict[str, Any] = {}
            if kind == "signature_image":
                png = await asyncio.to_thread(decode_signature, step.name, value)
                item = self.keeper.prepare(session, kind, png, "png", client.name)
            else:
                if kind == "questionnaire_answers":
                    data["answers"] = value
                if kind == "document_acknowledged":
                    known = [document.id for document in step.documents]
                    if known and value not in known:
                        raise InvalidEvidence(
                            kind,
                            step.name,
                            f'no document "{value}" (documents: {", ".join(known)})',
                        )
                body = record(
                    session.id,
                    step.name,
                    kind,
                    value=value,
                    given_by=client.name,
                    offset_ms=session.offset_ms(),
                    at=datetime.now(UTC).isoformat(),
                )
                item = self.keeper.prepare(session, kind, body, "json", client.name)
            evidence = {kind: item.ref}
            if kind == "document_acknowledged":
                acknowledged = {**session.acknowledged, str(value): item.ref}
                unread = [d.id for d in step.documents if d.id not in acknowledged]
                evidence = {} if unread else {kind: ";".join(acknowledged.values())}
            data["evidence"] = evidence
            # The engine validates what the step takes (answers, evidence kinds) first.
            context = collect(session.flow, step.name, session.context, data)
            await self.keeper.keep(session, [item], context.to_dict())
            session.context = context
            if kind == "document_acknowledged":
                session.acknowledged = acknowledged
            session.received.append(
                {
                    "seq": item.seq,
                    "kind": kind,
                    "step": step.name,
                    "offset_ms": session.offset_ms(),
                    "value": None if kind == "signature_image" else value,
                    "url": f"/console/sessions/{session.id}/evidence/{item.seq}",
                }
            )
        await self.send_state(session, event=None)

    # -- announcements and timeouts ----------------------------------------------------

    def step_started(self, session: LiveSession) -> None:
        """A step began (or the recording did): arm its timeout, start its announcement."""
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        step = session.step
        if step.terminal or session.ended:
            return
        if step.timeout_s is not None:
            loop = asyncio.get_running_loop()
            session.timer = loop.call_later(
                step.timeout_s, lambda: self._track(session, self._timed_out(session, step.name))
            )
        idle = session.announcing is None or session.announcing.done()
        if step.tts and session.recording and step.name not in session.announced and idle:
            session.announcement_error = None
            session.announcing = asyncio.ensure_future(self._announce(session, step.name))
            session.pending.add(session.announcing)
            session.announcing.add_done_callback(session.pending.discard)

    async def _timed_out(self, session: LiveSession, step: str) -> None:
        async with session.lock:
            if session.ended or session.state != step:
                return
            if not expired(session.step, session.step_entered, datetime.now(UTC)):
                return
            reason = f'step "{step}" timed out after {session.step.timeout_s} s'
            logger.warning("session %s: %s", session.id, reason)
            await self._transition(session, ABORT_EVENT, "server", reason=reason, data={}, items={})

    async def _announce(self, session: LiveSession, step_name: str) -> None:
        step = session.flow.step(step_name)
        assert step.tts is not None and session.relay is not None
        text = step.tts[session.language]
        try:
            samples, rate = await synthesise(text, session.language, speed_wpm=self.tts.speed_wpm)
            start = session.offset_ms()
            duration = await session.relay.play_announcement(samples, rate)
            end = session.offset_ms()
        except (MediaError, OSError) as exc:
            session.announcement_error = f"the announcement could not be played: {exc}"
            logger.error("session %s: %s", session.id, session.announcement_error)
            if session.agent is not None:
                await asyncio.gather(
                    session.agent.send(
                        Error(code="tts_failed", message=session.announcement_error, ref=None)
                    ),
                    return_exceptions=True,
                )
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
            session.announced.add(step_name)
        logger.info(
            "session %s: announcement of %s played (%.1f s)", session.id, step_name, duration
        )
        await self.send_state(session, event=None)

    def stop(self, session: LiveSession) -> None:
        """The call is ending: no more timeouts or announcements."""
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        if session.announcing is not None:
            session.announcing.cancel()

    # -- telling the parties -----------------------------------------------------------

    def missing(self, session: LiveSession) -> list[str]:
        """What the current step still needs before its forward event."""
        step = session.step
        if step.terminal:
            return []
        needed = list(missing_evidence(step, session.context))
        if step.tts is not None and step.name not in session.announced:
            needed.append(TTS_PLAYED)
        return needed

    def state_message(
        self, session: LiveSession, party: Client, event: str | None, offset_ms: int | None
    ) -> WorkflowState:
        """The current step as ``party`` sees it, in the customer's language."""
        step, language = session.step, session.language
        questionnaire = session.flow.questionnaire
        questions = []
        for question_id in step.questions:
            question = None if questionnaire is None else questionnaire.question(question_id)
            if question is not None:
                options = [{"id": o.id, "text": o.text[language]} for o in question.options]
                questions.append(
                    {"id": question.id, "text": question.text[language], "options": options}
                )
        facts = {k: v for k, v in session.context.to_dict().items() if k not in _HIDDEN_FACTS}
        if "id_number" in facts:
            facts["id_number"] = mask_id(facts["id_number"])
        return WorkflowState(
            session_id=session.id,
            flow=session.flow.name,
            state=session.state,
            event=event,
            offset_ms=offset_ms,
            terminal=step.terminal,
            title=step.title[language],
            prompt=(step.script if party is session.agent else step.prompt)[language],
            events=list(session.flow.events_from(session.state)),
            evidence=list(step.evidence),
            missing=self.missing(session),
            documents=[{"id": d.id, "title": d.title[language]} for d in step.documents],
            questions=questions,
            confirmation_phrase=(
                None if step.confirmation_phrase is None else step.confirmation_phrase[language]
            ),
            announcement=None if step.tts is None else step.tts[language],
            facts=facts,
            timeout_s=step.timeout_s,
            fields=[] if party is not session.agent else step_fields(step),
            received=[] if party is not session.agent else list(session.received),
        )

    def document(self, session: LiveSession, document_id: str) -> Document:
        """One of the current step's documents, to show on the kiosk."""
        step, language = session.step, session.language
        for document in step.documents:
            if document.id == document_id:
                body = document.body or step.tts or document.title
                return Document(
                    session_id=session.id,
                    id=document.id,
                    title=document.title[language],
                    body=body[language],
                )
        known = ", ".join(d.id for d in step.documents) or "none"
        raise InvalidEvidence(
            "push_document", step.name, f'no document "{document_id}" (documents: {known})'
        )

    async def send_state(
        self, session: LiveSession, *, event: str | None, offset_ms: int | None = None
    ) -> None:
        """Tell both parties where the workflow stands."""
        for party in session.parties():
            await asyncio.gather(
                party.send(self.state_message(session, party, event, offset_ms)),
                return_exceptions=True,
            )


def step_fields(step: Step) -> list[dict[str, Any]]:
    """The data ``step`` collects, as the agent's form shows it."""
    return [{"name": name, "required": True} for name in step.collects] + [
        {"name": name, "required": False} for name in step.may_collect
    ]
