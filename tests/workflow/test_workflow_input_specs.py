"""``input_specs()``: how the pages' forms ask for each fact the workflow may collect."""

from __future__ import annotations

import re

import pytest

from common import Language
from workflow import COLLECTABLE, InvalidContext, input_specs
from workflow.context import FlowContext

#: A value each kind of input accepts, by field (what an agent would type).
TYPED = {
    "id_number": "11010519491231002x",
    "name": "张三",
    "assessment_date": "2024-05-01",
    "product_code": "WM-2024-01",
    "product_name": "稳健理财 1 号",
    "purchase_amount": "10000.00",
    "employer": "某某有限公司",
    "monthly_income": "8000",
    "loan_amount": "50000",
    "loan_term_months": "12",
    "loan_rate": "4.35",
    "loan_apr": "4.5",
    "company_name": "某某科技有限公司",
    "credit_code": "91350100m000100y0x",
    "registered_address": "北京市朝阳区",
}


def test_every_collectable_fact_has_a_spec_and_a_label_in_each_language() -> None:
    specs = input_specs()
    assert set(specs) == set(COLLECTABLE)
    for name, spec in specs.items():
        assert set(spec["label"]) == {lang.value for lang in Language}, name
        assert all(spec["label"].values()), name
        assert ("options" in spec) != ("type" in spec), name


@pytest.mark.parametrize("name", sorted(input_specs()))
def test_what_the_form_lets_through_the_server_accepts(name: str) -> None:
    """A value that fits the HTML attributes is taken by the fact's validator."""
    spec = input_specs()[name]
    if "options" in spec:
        for option in spec["options"]:
            assert FlowContext({name: option})[name] == option
        with pytest.raises(InvalidContext):
            FlowContext({name: "not-an-option"})
        return
    typed = TYPED[name]
    if "pattern" in spec:
        assert re.fullmatch(spec["pattern"], typed), name
    if "maxlength" in spec:
        assert len(typed) <= int(spec["maxlength"])
    value: object = int(typed) if spec.get("integer") else typed
    if spec["type"] == "number" and not spec.get("integer"):
        assert float(spec["min"]) <= float(typed) <= float(spec.get("max", "inf"))
    stored = FlowContext({name: value})[name]
    assert stored == (value.upper() if spec.get("upper") and isinstance(value, str) else value)


def test_limits_of_the_form_are_those_of_the_validator() -> None:
    """The form's min and max are the validator's bounds: just outside them is refused."""
    for name, spec in input_specs().items():
        if spec.get("type") != "number":
            continue
        below = int(spec["min"]) - 1 if spec.get("integer") else f"{float(spec['min']) - 0.01:.2f}"
        with pytest.raises(InvalidContext):
            FlowContext({name: below})
        if "max" in spec:
            above = int(spec["max"]) + 1 if spec.get("integer") else f"{float(spec['max']) + 0.01}"
            with pytest.raises(InvalidContext):
                FlowContext({name: above})
