"""Every validation failure of a malformed flow file, named with its file and problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.workflow.flow_documents import (
    Document,
    minimal_flow,
    step_table,
    text,
    write_flow,
)
from workflow import (
    ABORTED_STEP,
    FlowDefinitionError,
    WorkflowError,
    load_flow,
)


def _del(*keys: str) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        table = document
        for key in keys[:-1]:
            table = table[key]
        del table[keys[-1]]

    return mutate


def _set(*keys: str, value: Any) -> Callable[[Document], None]:
    def mutate(document: Document) -> None:
        table = document
        for key in keys[:-1]:
            table = table[key]
        table[keys[-1]] = value

    return mutate


def _trap(document: Document) -> None:
    document["steps"]["start"]["transitions"]["wander"] = "maze"
    document["steps"]["maze"] = step_table("Maze", transitions={"turn": "maze"})


def _two_question_steps(document: Document) -> None:
    start = document["steps"]["start"]
    start.update(questions=["age"], evidence=["questionnaire_answers"])
    start["transitions"] = {"go": "more"}
    document["steps"]["more"] = step_table(
        "More",
        questions=["age", "debt"],
        evidence=["questionnaire_answers"],
        transitions={"go": "done"},
    )


CASES: list[tuple[str, Callable[[Document], None], str]] = [
    ("missing-flow-key", _del("title"), 'flow: missing key "title"'),
    ("unknown-flow-key", _set("colour", value="blue"), 'flow: unknown key "colour"'),
    ("missing-step-key", _del("steps", "start", "prompt"), 'step "start": missing key "prompt"'),
    (
        "unknown-step-key",
        _set("steps", "start", "colour", value="blue"),
        'step "start": unknown key "colour"',
    ),
    ("name-mismatch", _set("name", value="other"), 'does not match file name "tiny"'),
    ("bad-name", _set("name", value="Tiny Flow"), "must be lower_snake_case"),
    ("no-steps", _set("steps", value={}), "steps must be a non-empty table"),
    (
        "no-initial",
        _set("steps", "start", "initial", value=False),
        "exactly one initial step (found: none)",
    ),
    (
        "two-initials",
        _set("steps", "done", "initial", value=True),
        "exactly one initial step (found: start, done)",
    ),
    (
        "unknown-target",
        _set("steps", "start", "transitions", value={"go": "nowhere"}),
        'step "start": event "go" leads to unknown step "nowhere"',
    ),
    (
        "unreachable",
        _set("steps", "lost", value=step_table("Lost", transitions={"go": "done"})),
        'steps not reachable from initial step "start": lost',
    ),
    ("no-terminal-reachable", _trap, "no terminal step is reachable from steps: maze"),
    (
        "unknown-evidence",
        _set("steps", "start", "evidence", value=["selfie"]),
        'step "start": unknown evidence type "selfie"',
    ),
    (
        "missing-zh-CN",
        _del("steps", "start", "script", "zh-CN"),
        'step "start" script: missing "zh-CN" text',
    ),
    ("missing-en", _del("title", "en"), 'flow title: missing "en" text'),
    (
        "unknown-language",
        _set("steps", "done", "prompt", "fr", value="Fini"),
        'step "done" prompt: unknown language "fr"',
    ),
    (
        "empty-text",
        _set("steps", "done", "title", "en", value=" "),
        'step "done" title: "en" text must be a non-empty string',
    ),
    (
        "text-not-a-table",
        _set("description", value="A tiny flow"),
        "flow description: must be a table of texts",
    ),
    (
        "terminal-with-transitions",
        _set("steps", "done", "transitions", value={"again": "start"}),
        'step "done": a terminal step must have no transitions',
    ),
    (
        "reserved-event",
        _set("steps", "start", "transitions", value={"go": "done", "abort": "done"}),
        'step "start": the event "abort" is reserved',
    ),
    (
        "reserved-step",
        _set("steps", ABORTED_STEP, value=step_table("Aborted", terminal=True)),
        f'step "{ABORTED_STEP}": the name "{ABORTED_STEP}" is reserved',
    ),
    (
        "bad-timeout",
        _set("steps", "start", "timeout_s", value=0),
        'step "start": timeout_s must be a positive whole number',
    ),
    (
        "unknown-guard",
        _set("steps", "start", "transitions", value={"go": {"to": "done", "guard": "psychic"}}),
        'step "start": event "go" names unknown guard "psychic" (known: assessment_missing',
    ),
    (
        "guard-not-a-name",
        _set("steps", "start", "transitions", value={"go": {"to": "done", "guard": ["x"]}}),
        'step "start": event "go" names unknown guard "[\'x\']"',
    ),
    (
        "unknown-effect",
        _set("steps", "start", "transitions", value={"go": {"to": "done", "effect": "bless"}}),
        'step "start": event "go" names unknown effect "bless"',
    ),
    (
        "transition-without-target",
        _set("steps", "start", "transitions", value={"go": {"guard": "product_suitable"}}),
        'step "start": event "go": missing key "to"',
    ),
    (
        "unknown-transition-key",
        _set("steps", "start", "transitions", value={"go": {"to": "done", "when": "now"}}),
        'step "start": event "go": unknown key "when"',
    ),
    (
        "unknown-fact",
        _set("steps", "start", "collects", value=["shoe_size"]),
        'step "start": unknown fact "shoe_size" (known: ',
    ),
    (
        "fact-twice",
        _set("steps", "start", "collects", value=["name", "name"]),
        'step "start": collects lists a name twice',
    ),
    (
        "fact-collected-and-optional",
        lambda d: d["steps"]["start"].update(collects=["name"], may_collect=["name"]),
        'step "start": fact "name" is in both collects and may_collect',
    ),
    (
        "unknown-question",
        _set("steps", "start", "questions", value=["favourite_colour"]),
        'step "start": unknown question "favourite_colour" (known: ',
    ),
    (
        "questions-without-evidence",
        _set("steps", "start", "questions", value=["age"]),
        'step "start": a step with questions must require "questionnaire_answers" evidence',
    ),
    ("no-questions", _set("steps", "start", "questions", value=[]), "questions must not be empty"),
    (
        "question-asked-twice",
        _two_question_steps,
        'step "more": question "age" is already asked in step "start"',
    ),
    (
        "documents-without-evidence",
        _set("steps", "start", "documents", value=[{"id": "terms", "title": text("Terms")}]),
        'step "start": a step with documents must require "document_acknowledged" evidence',
    ),
    (
        "document-without-title",
        _set("steps", "start", "documents", value=[{"id": "terms"}]),
        'step "start" document: missing key "title"',
    ),
    (
        "tts-not-a-text",
        _set("steps", "start", "tts", value="Please listen"),
        'step "start" tts: must be a table of texts by language',
    ),
    (
        "tts-missing-language",
        _set("steps", "start", "tts", value={"en": "Please listen"}),
        'step "start" tts: missing "zh-CN" text',
    ),
    (
        "tts-empty",
        _set("steps", "start", "tts", value={"zh-CN": "请听", "en": ""}),
        'step "start" tts: "en" text must be a non-empty string',
    ),
    (
        "tts-on-terminal",
        _set("steps", "done", "tts", value=text("Goodbye")),
        'step "done": a terminal step has no tts',
    ),
    (
        "evidence-on-terminal",
        _set("steps", "done", "evidence", value=["consent"]),
        'step "done": a terminal step has no evidence',
    ),
    (
        "phrase-without-spoken-evidence",
        _set("steps", "start", "confirmation_phrase", value=text("I agree")),
        'a step with confirmation_phrase must require "spoken_confirmation" evidence',
    ),
]


@pytest.mark.parametrize(("mutate", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_flow_is_refused(
    tmp_path: Path, mutate: Callable[[Document], None], problem: str
) -> None:
    document = copy.deepcopy(minimal_flow())
    mutate(document)
    path = write_flow(tmp_path, document)
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(path)
    error = caught.value
    assert error.path == path
    assert problem in error.problem
    assert str(path) in str(error)
    assert problem in str(error)
    assert isinstance(error, WorkflowError)
    assert isinstance(error, ValueError)


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\ntitle = { en = \n', encoding="utf-8")
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert "TOML syntax error" in str(caught.value)
    assert caught.value.__cause__ is not None


def test_initial_step_must_not_be_terminal(tmp_path: Path) -> None:
    document = minimal_flow()
    document["steps"] = {"done": step_table("Done", initial=True, terminal=True)}
    path = write_flow(tmp_path, document)
    with pytest.raises(FlowDefinitionError, match='initial step "done" must not be terminal'):
        load_flow(path)
