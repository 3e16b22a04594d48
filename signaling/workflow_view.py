"""What the parties are told of a live session's workflow: the step as each one sees it."""

from __future__ import annotations

from typing import Any, Final

from common import TTS_PLAYED
from workflow import Step, mask_id, missing_evidence

from .errors import InvalidEvidence
from .protocol import Document, WorkflowState
from .session import Client, LiveSession

#: Context entries never shown as facts (they are listed as evidence instead).
_HIDDEN_FACTS: Final = ("evidence", "answers")


def missing(session: LiveSession) -> list[str]:
    """What the current step still needs before its forward event."""
    step = session.step
    if step.terminal:
        return []
    needed = list(missing_evidence(step, session.context))
    if step.tts is not None and step.name not in session.step_run.announced:
        needed.append(TTS_PLAYED)
    return needed


def step_fields(step: Step) -> list[dict[str, Any]]:
    """The data ``step`` collects, as the agent's form shows it."""
    return [{"name": name, "required": True} for name in step.collects] + [
        {"name": name, "required": False} for name in step.may_collect
    ]


def state_message(
    session: LiveSession, party: Client, event: str | None, offset_ms: int | None
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
    for_agent = party is session.agent
    return WorkflowState(
        session_id=session.id,
        flow=session.flow.name,
        state=session.state,
        event=event,
        offset_ms=offset_ms,
        terminal=step.terminal,
        title=step.title[language],
        prompt=(step.script if for_agent else step.prompt)[language],
        events=list(session.flow.events_from(session.state)),
        evidence=list(step.evidence),
        missing=missing(session),
        documents=[{"id": d.id, "title": d.title[language]} for d in step.documents],
        questions=questions,
        confirmation_phrase=(
            None if step.confirmation_phrase is None else step.confirmation_phrase[language]
        ),
        announcement=None if step.tts is None else step.tts[language],
        facts=facts,
        timeout_s=step.timeout_s,
        fields=step_fields(step) if for_agent else [],
        received=list(session.evidence.received) if for_agent else [],
    )


def document(session: LiveSession, document_id: str) -> Document:
    """One of the current step's documents, to show on the kiosk."""
    step, language = session.step, session.language
    for item in step.documents:
        if item.id == document_id:
            body = item.body or step.tts or item.title
            return Document(
                session_id=session.id, id=item.id, title=item.title[language], body=body[language]
            )
    known = ", ".join(d.id for d in step.documents) or "none"
    raise InvalidEvidence(
        "push_document", step.name, f'no document "{document_id}" (documents: {known})'
    )
