"""Parsing one `[steps.<name>]` table of a flow file into a validated Step."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Final

from workflow.context import COLLECTABLE
from workflow.flow import ABORT_EVENT, ABORTED_STEP, EVIDENCE_TYPES, Document, Step, Text
from workflow.guards import EFFECTS, GUARDS
from workflow.risk import Questionnaire

NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_REQUIRED: Final = frozenset({"title", "script", "prompt"})
_OPTIONAL: Final = frozenset(
    {
        "initial",
        "terminal",
        "evidence",
        "transitions",
        "timeout_s",
        "collects",
        "may_collect",
        "questions",
        "documents",
        "tts",
        "confirmation_phrase",
    }
)
# Keys that only make sense on a step with a forward event.
_NOT_TERMINAL: Final = (
    "timeout_s",
    "evidence",
    "collects",
    "may_collect",
    "questions",
    "documents",
    "tts",
    "confirmation_phrase",
)
# A step field that needs an evidence type: the evidence that proves it happened.
_NEEDS_EVIDENCE: Final = {
    "questions": "questionnaire_answers",
    "documents": "document_acknowledged",
    "confirmation_phrase": "spoken_confirmation",
}


class Invalid(Exception):
    """A problem found in a flow file, turned into FlowDefinitionError by the loader."""


def check_keys(
    table: Mapping[str, object], required: frozenset[str], optional: frozenset[str], where: str
) -> None:
    """Raise Invalid naming the first missing or unknown key of `table`."""
    missing = sorted(required - table.keys())
    if missing:
        raise Invalid(f'{where}: missing key "{missing[0]}"')
    unknown = sorted(table.keys() - required - optional)
    if unknown:
        raise Invalid(f'{where}: unknown key "{unknown[0]}"')


def text(value: object, where: str) -> Text:
    """Parse a table of texts by language, raising Invalid naming `where`."""
    try:
        return Text.parse(value, where)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def parse_step(name: str, table: object, questionnaire: Callable[[], Questionnaire]) -> Step:
    """Validate one step table; `questionnaire` is called only if the step has questions."""
    where = f'step "{name}"'
    if not NAME.fullmatch(name):
        raise Invalid(f"{where}: step names must be lower_snake_case")
    if name == ABORTED_STEP:
        raise Invalid(f'{where}: the name "{ABORTED_STEP}" is reserved for the abort step')
    if not isinstance(table, dict):
        raise Invalid(f"{where}: must be a table")
    check_keys(table, _REQUIRED, _OPTIONAL, where)
    for flag in ("initial", "terminal"):
        if not isinstance(table.get(flag, False), bool):
            raise Invalid(f"{where}: {flag} must be true or false")
    terminal: bool = table.get("terminal", False)
    if terminal and table.get("transitions"):
        raise Invalid(f"{where}: a terminal step must have no transitions")
    for key in _NOT_TERMINAL:
        if terminal and key in table:
            raise Invalid(f"{where}: a terminal step has no {key}")
    evidence = _names(table.get("evidence", []), where, "evidence", EVIDENCE_TYPES, "evidence type")
    transitions, guards, effects = _transitions(table.get("transitions", {}), where)
    timeout_s = table.get("timeout_s")
    if timeout_s is not None and (
        isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s <= 0
    ):
        raise Invalid(f"{where}: timeout_s must be a positive whole number of seconds")
    collects = _names(table.get("collects", []), where, "collects", COLLECTABLE, "fact")
    may_collect = _names(table.get("may_collect", []), where, "may_collect", COLLECTABLE, "fact")
    both = sorted(set(collects) & set(may_collect))
    if both:
        raise Invalid(f'{where}: fact "{both[0]}" is in both collects and may_collect')
    questions: tuple[str, ...] = ()
    if "questions" in table:
        known = questionnaire().question_ids
        questions = _names(table["questions"], where, "questions", known, "question")
        if not questions:
            raise Invalid(f"{where}: questions must not be empty")
    documents = _documents(table.get("documents", []), where)
    for key, kind in _NEEDS_EVIDENCE.items():
        if key in table and kind not in evidence:
            raise Invalid(f'{where}: a step with {key} must require "{kind}" evidence')
    return Step(
        name=name,
        title=text(table["title"], f"{where} title"),
        script=text(table["script"], f"{where} script"),
        prompt=text(table["prompt"], f"{where} prompt"),
        evidence=evidence,
        transitions=transitions,
        timeout_s=timeout_s,
        terminal=terminal,
        guards=guards,
        effects=effects,
        collects=collects,
        may_collect=may_collect,
        questions=questions,
        documents=documents,
        tts=None if "tts" not in table else text(table["tts"], f"{where} tts"),
        confirmation_phrase=(
            None
            if "confirmation_phrase" not in table
            else text(table["confirmation_phrase"], f"{where} confirmation_phrase")
        ),
    )


def _names(
    value: object, where: str, key: str, known: Collection[str], what: str
) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid(f"{where}: {key} must be a list of names")
    for item in value:
        if item not in known:
            listed = ", ".join(sorted(known))
            raise Invalid(f'{where}: unknown {what} "{item}" (known: {listed})')
    if len(set(value)) != len(value):
        raise Invalid(f"{where}: {key} lists a name twice")
    return tuple(value)


def _transitions(
    value: object, where: str
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    if not isinstance(value, dict):
        raise Invalid(f"{where}: transitions must be a table of event = target step")
    targets: dict[str, str] = {}
    guards: dict[str, str] = {}
    effects: dict[str, str] = {}
    for event, target in value.items():
        if event == ABORT_EVENT:
            raise Invalid(f'{where}: the event "{ABORT_EVENT}" is reserved and added to every step')
        if not NAME.fullmatch(event):
            raise Invalid(f'{where}: event name "{event}" must be lower_snake_case')
        if isinstance(target, dict):
            check_keys(
                target,
                frozenset({"to"}),
                frozenset({"guard", "effect"}),
                f'{where}: event "{event}"',
            )
            for key, registry, names in (("guard", GUARDS, guards), ("effect", EFFECTS, effects)):
                if key in target:
                    if not isinstance(target[key], str) or target[key] not in registry:
                        listed = ", ".join(sorted(registry))
                        raise Invalid(
                            f'{where}: event "{event}" names unknown {key} "{target[key]}" '
                            f"(known: {listed})"
                        )
                    names[event] = target[key]
            target = target["to"]
        if not isinstance(target, str):
            raise Invalid(f'{where}: the target of event "{event}" must be a step name')
        targets[event] = target
    return targets, guards, effects


def _documents(value: object, where: str) -> tuple[Document, ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Invalid(f"{where}: documents must be a list of {{ id, title }} tables")
    documents = []
    for item in value:
        check_keys(item, frozenset({"id", "title"}), frozenset({"body"}), f"{where} document")
        if not isinstance(item["id"], str) or not NAME.fullmatch(item["id"]):
            raise Invalid(f"{where}: document id {item['id']!r} must be lower_snake_case")
        title = text(item["title"], f'{where} document "{item["id"]}" title')
        body = None
        if "body" in item:
            body = text(item["body"], f'{where} document "{item["id"]}" body')
        documents.append(Document(id=item["id"], title=title, body=body))
    if len({document.id for document in documents}) != len(documents):
        raise Invalid(f"{where}: a document id is listed twice")
    return tuple(documents)
