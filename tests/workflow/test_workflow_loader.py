"""Loading flow files: the packaged flows, and every validation failure of a malformed file."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workflow import (
    ABORTED_STEP,
    EFFECTS,
    EVIDENCE_TYPES,
    FLOWS_DIR,
    GUARDS,
    FlowDefinitionError,
    UnknownFlow,
    WorkflowError,
    get_flow,
    load_flow,
    load_flows,
)

Document = dict[str, Any]


def _text(label: str) -> dict[str, str]:
    return {"zh-CN": f"{label}（中文）", "en": label}


def _step(label: str, **extra: Any) -> dict[str, Any]:
    return {"title": _text(label), "script": _text(label), "prompt": _text(label), **extra}


def _minimal() -> Document:
    return {
        "name": "tiny",
        "title": _text("Tiny"),
        "description": _text("A tiny flow"),
        "steps": {
            "start": _step(
                "Start",
                initial=True,
                evidence=["consent"],
                timeout_s=60,
                transitions={"go": "done"},
            ),
            "done": _step("Done", terminal=True),
        },
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items())
        return "{ " + pairs + " }"
    raise TypeError(value)


def _dumps(document: Document) -> str:
    lines = [f"{key} = {_toml_value(value)}" for key, value in document.items() if key != "steps"]
    steps = document.get("steps", {})
    if not isinstance(steps, dict) or not steps:
        return "\n".join([*lines, f"steps = {_toml_value(steps)}", ""])
    for name, table in steps.items():
        lines.append(f"\n[steps.{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
    return "\n".join([*lines, ""])


def _write(directory: Path, document: Document, stem: str = "tiny") -> Path:
    path = directory / f"{stem}.toml"
    path.write_text(_dumps(document), encoding="utf-8")
    return path


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
    document["steps"]["maze"] = _step("Maze", transitions={"turn": "maze"})


def _two_question_steps(document: Document) -> None:
    start = document["steps"]["start"]
    start.update(questions=["age"], evidence=["questionnaire_answers"])
    start["transitions"] = {"go": "more"}
    document["steps"]["more"] = _step(
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
        _set("steps", "lost", value=_step("Lost", transitions={"go": "done"})),
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
        _set("steps", ABORTED_STEP, value=_step("Aborted", terminal=True)),
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
        _set("steps", "start", "documents", value=[{"id": "terms", "title": _text("Terms")}]),
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
        _set("steps", "done", "tts", value=_text("Goodbye")),
        'step "done": a terminal step has no tts',
    ),
    (
        "evidence-on-terminal",
        _set("steps", "done", "evidence", value=["consent"]),
        'step "done": a terminal step has no evidence',
    ),
    (
        "phrase-without-spoken-evidence",
        _set("steps", "start", "confirmation_phrase", value=_text("I agree")),
        'a step with confirmation_phrase must require "spoken_confirmation" evidence',
    ),
]


def test_minimal_flow_loads(tmp_path: Path) -> None:
    flow = load_flow(_write(tmp_path, _minimal()))
    assert flow.name == "tiny"
    assert flow.initial == "start"
    assert list(flow.steps) == ["start", "done", ABORTED_STEP]
    assert flow.events_from("start") == ("go", "abort")
    assert flow.events_from("done") == ()
    assert flow.step(ABORTED_STEP).terminal
    assert flow.step("start").timeout_s == 60


@pytest.mark.parametrize(("mutate", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_flow_is_refused(
    tmp_path: Path, mutate: Callable[[Document], None], problem: str
) -> None:
    document = copy.deepcopy(_minimal())
    mutate(document)
    path = _write(tmp_path, document)
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
    document = _minimal()
    document["steps"] = {"done": _step("Done", initial=True, terminal=True)}
    path = _write(tmp_path, document)
    with pytest.raises(FlowDefinitionError, match='initial step "done" must not be terminal'):
        load_flow(path)


def test_load_flows_finds_card_opening() -> None:
    flows = load_flows()
    assert "card_opening" in flows
    assert flows == load_flows(FLOWS_DIR)
    assert get_flow(flows, "card_opening") is flows["card_opening"]


def test_load_flows_reads_a_directory(tmp_path: Path) -> None:
    _write(tmp_path, _minimal())
    (tmp_path / "_shared.toml").write_text("not = 'a flow'\n", encoding="utf-8")
    other = _minimal()
    other["name"] = "other"
    _write(tmp_path, other, stem="other")
    (tmp_path / "notes.txt").write_text("not a flow", encoding="utf-8")
    assert sorted(load_flows(tmp_path)) == ["other", "tiny"]


def test_load_flows_refuses_a_bad_file(tmp_path: Path) -> None:
    _write(tmp_path, _minimal())
    bad = _minimal()
    del bad["steps"]["start"]["initial"]
    bad["name"] = "bad"
    path = _write(tmp_path, bad, stem="bad")
    with pytest.raises(FlowDefinitionError) as caught:
        load_flows(tmp_path)
    assert caught.value.path == path


def test_load_flows_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        load_flows(tmp_path / "missing")


def test_unknown_flow() -> None:
    known = "card_opening, corporate_account_verification, loan_review, risk_assessment, "
    with pytest.raises(
        UnknownFlow, match=rf'unknown flow "loan" \(known: {known}wealth_purchase\)'
    ) as caught:
        get_flow(load_flows(), "loan")
    assert isinstance(caught.value, LookupError)
    assert caught.value.name == "loan"


def test_full_step_loads(tmp_path: Path) -> None:
    document = _minimal()
    document["steps"]["start"] = _step(
        "Start",
        initial=True,
        collects=["product_risk"],
        may_collect=["risk_level", "assessment_date"],
        questions=["age", "horizon"],
        documents=[{"id": "terms", "title": _text("Terms")}],
        tts=_text("Please listen"),
        confirmation_phrase=_text("I agree"),
        evidence=["questionnaire_answers", "document_acknowledged", "spoken_confirmation"],
        transitions={
            "go": {"to": "done", "guard": "product_suitable", "effect": "record_suitability"},
            "skip": "done",
        },
    )
    flow = load_flow(_write(tmp_path, document))
    step = flow.step("start")
    assert step.transitions == {"go": "done", "skip": "done", "abort": ABORTED_STEP}
    assert step.guards == {"go": "product_suitable"}
    assert step.effects == {"go": "record_suitability"}
    assert step.collects == ("product_risk",)
    assert step.may_collect == ("risk_level", "assessment_date")
    assert step.questions == ("age", "horizon")
    assert [(d.id, d.title["en"]) for d in step.documents] == [("terms", "Terms")]
    assert step.tts is not None and step.tts["zh-CN"] == "Please listen（中文）"
    assert step.confirmation_phrase is not None and step.confirmation_phrase["en"] == "I agree"
    assert flow.questionnaire is not None and "loss_tolerance" in flow.questionnaire.question_ids
    assert load_flow(_write(tmp_path, _minimal())).questionnaire is None


def test_packaged_flows_use_only_registered_guards_and_evidence() -> None:
    for flow in load_flows().values():
        for step in flow.steps.values():
            assert set(step.guards.values()) <= set(GUARDS)
            assert set(step.effects.values()) <= set(EFFECTS)
            assert set(step.evidence) <= EVIDENCE_TYPES
