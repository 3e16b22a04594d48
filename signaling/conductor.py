"""Running a live session's workflow: events, evidence and step timeouts.

The pure engine (``workflow.advance`` / ``workflow.collect``) decides; this module
carries its effects out: it takes agent-side evidence (an ID photo from the kiosk's
video, a spoken confirmation stamped on the recording), keeps every piece of evidence
(signaling.evidence), stores each transition with the context after it, starts a step's
announcement (signaling.announcer) and tells both parties what the step still needs
(signaling.workflow_view).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from common import EvidenceKind, Party
from media.evidence import Prepared, record, refs
from storage import Database
from workflow import ABORT_EVENT, advance, collect, expired

from . import workflow_view
from .announcer import Announcer, TtsSettings
from .errors import InvalidEvidence, OutOfOrder
from .evidence import EvidenceKeeper, decode_signature
from .protocol import EvidenceMessage, WorkflowEventMessage
from .session import Client, LiveSession

logger = logging.getLogger(__name__)

#: Evidence the agent's event carries, taken or stamped by the server.
AGENT_EVIDENCE = frozenset(kind for kind in EvidenceKind if kind.supplied_by is Party.AGENT)


class Conductor:
    """Advances the workflow of live sessions and keeps their evidence."""

    def __init__(
        self, db: Database, keeper: EvidenceKeeper, tts: TtsSettings | None = None
    ) -> None:
        self.db = db
        self.keeper = keeper
        self.announcer = Announcer(keeper, lambda s: self.send_state(s, event=None), tts)

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
                self.announcer.check_played(session, message.event)
            data = dict(message.data)
            items = await self._agent_evidence(session, client, data)
            if items:
                data["evidence"] = {**data["evidence"], **refs(items)}
            await self._transition(
                session, message.event, client.name, reason=message.reason, data=data, items=items
            )

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
        session.step_run.restart()
        session.evidence.acknowledged = {}
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
                acknowledged = {**session.evidence.acknowledged, str(value): item.ref}
                unread = [d.id for d in step.documents if d.id not in acknowledged]
                evidence = {} if unread else {kind: ";".join(acknowledged.values())}
            data["evidence"] = evidence
            # The engine validates what the step takes (answers, evidence kinds) first.
            context = collect(session.flow, step.name, session.context, data)
            await self.keeper.keep(session, [item], context.to_dict())
            session.context = context
            if kind == "document_acknowledged":
                session.evidence.acknowledged = acknowledged
            session.evidence.received.append(
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

    # -- step timeouts -----------------------------------------------------------------

    def step_started(self, session: LiveSession, *, restart: bool = False) -> None:
        """A step began (or the recording did): arm its timeout, start its announcement.

        With ``restart`` the step's time runs from now (the call has just come up).
        """
        run = session.step_run
        if restart:
            run.restart()
        run.cancel_timer()
        step = session.step
        if step.terminal or session.ended:
            return
        if step.timeout_s is not None:
            loop = asyncio.get_running_loop()
            run.timer = loop.call_later(
                step.timeout_s, lambda: session.tasks.spawn(self._timed_out(session, step.name))
            )
        self.announcer.start(session)

    async def _timed_out(self, session: LiveSession, step: str) -> None:
        async with session.lock:
            if session.ended or session.state != step:
                return
            if not expired(session.step, session.step_run.entered, datetime.now(UTC)):
                return
            reason = f'step "{step}" timed out after {session.step.timeout_s} s'
            logger.warning("session %s: %s", session.id, reason)
            await self._transition(session, ABORT_EVENT, "server", reason=reason, data={}, items={})

    def stop(self, session: LiveSession) -> None:
        """The call is ending: no more timeouts or announcements."""
        session.step_run.cancel_timer()
        self.announcer.stop(session)

    # -- telling the parties -----------------------------------------------------------

    async def push_document(self, session: LiveSession, agent: Client, document_id: str) -> None:
        """Show one of the current step's documents on the kiosk (and to the agent)."""
        document = workflow_view.document(session, document_id)
        logger.info("session %s: document %s pushed", session.id, document.id)
        await session.kiosk.send(document)
        await agent.send(document)

    async def send_state(
        self, session: LiveSession, *, event: str | None, offset_ms: int | None = None
    ) -> None:
        """Tell both parties where the workflow stands."""
        for party in session.parties():
            message = workflow_view.state_message(session, party, event, offset_ms)
            await asyncio.gather(party.send(message), return_exceptions=True)
