"""Flows drawn as Mermaid state diagrams."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.workflow.paths import FLOWS
from workflow import Text, to_mermaid


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_transition_is_drawn(name: str, language: str) -> None:
    flow = FLOWS[name]
    diagram = to_mermaid(flow, language)
    lines = diagram.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert f"    [*] --> {flow.initial}" in lines
    drawn = 0
    for step in flow.steps.values():
        assert f'    state "{step.title[language]}" as {step.name}' in lines
        for event, target in step.transitions.items():
            guard = step.guards.get(event)
            label = event if guard is None else f"{event} [{guard}]"
            assert f"    {step.name} --> {target}: {label}" in lines
            drawn += 1
        assert (f"    {step.name} --> [*]" in lines) is step.terminal
    assert sum(" --> " in line and "[*]" not in line for line in lines) == drawn


def test_wealth_purchase_diagram() -> None:
    diagram = to_mermaid(FLOWS["wealth_purchase"])
    assert "product_selection --> refused: product_refused [product_unsuitable]" in diagram
    assert (
        "assessment_check --> questionnaire_finance: assessment_needed "
        "[assessment_missing_or_expired]" in diagram
    )
    assert "    refused --> [*]" in diagram and "    purchase_confirmed --> [*]" in diagram


def test_labels_are_escaped() -> None:
    flow = FLOWS["card_opening"]
    step = replace(flow.step("consent"), title=Text(zh_cn="同意；", en='Say "yes"; tick'))
    odd = replace(flow, steps={**flow.steps, "consent": step})
    assert 'state "Say #quot;yes#quot;#59; tick" as consent' in to_mermaid(odd)
    assert 'state "同意；" as consent' in to_mermaid(odd, "zh-CN")


def test_unknown_language() -> None:
    with pytest.raises(ValueError, match='unknown language "fr"'):
        to_mermaid(FLOWS["card_opening"], "fr")
