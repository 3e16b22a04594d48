"""The session context: an immutable, JSON-storable record of the facts and evidence so far."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from workflow.errors import InvalidContext
from workflow.risk import PRODUCT_RISKS, RISK_LEVELS

EVIDENCE_KEY: Final = "evidence"
ANSWERS_KEY: Final = "answers"
NOTE_KEY: Final = "note"
_MAX_TEXT: Final = 200
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")

Validator = Callable[[object], Any]


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if len(value) > _MAX_TEXT:
        raise ValueError(f"must be at most {_MAX_TEXT} characters")
    return value.strip()


def _code(value: object) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value.strip()):
        raise ValueError("must be a code of letters, digits, '_', '.' or '-'")
    return value.strip()


def _one_of(*choices: str) -> Validator:
    def check(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return check


def _decimal(*, minimum: Decimal, maximum: Decimal | None = None) -> Validator:
    def check(value: object) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError('must be a decimal number (a string such as "10000.00")')
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("must be a decimal number") from None
        if not number.is_finite() or number < minimum or (maximum is not None and number > maximum):
            bounds = f"at least {minimum}" + ("" if maximum is None else f" and at most {maximum}")
            raise ValueError(f"must be {bounds}")
        return f"{number:f}"

    return check


def _positive(value: object) -> str:
    result: str = _decimal(minimum=Decimal("0.01"))(value)
    return result


def _whole(low: int, high: int) -> Validator:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return check


def _iso_date(value: object) -> str:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError("must be a date as YYYY-MM-DD")


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
    ):
        raise ValueError("must be a table of non-empty strings")
    return {k: v.strip() for k, v in value.items()}


def _evidence(value: object) -> dict[str, dict[str, str]]:
    if not isinstance(value, Mapping):
        raise ValueError("must be a table of evidence by step")
    return {str(step): _str_map(items) for step, items in value.items()}


def _record(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ValueError("must be a table")
    return dict(value)


_Attribute = str | bool | tuple[str, ...]


@dataclass(frozen=True)
class _Field:
    """A collectable fact: how the server checks it and how a form asks for it."""

    validator: Validator
    html: Mapping[str, _Attribute]
    label: tuple[str, str]  # (zh-CN, en)


def _text_field(
    zh: str, en: str, *, maxlength: int, pattern: str | None = None, upper: bool = False
) -> _Field:
    html: dict[str, _Attribute] = {"type": "text", "maxlength": str(maxlength)}
    if pattern is not None:
        html["pattern"] = pattern
    if upper:
        html["upper"] = True  # the page upper-cases it, as the validator does
    check: Validator = (lambda value: _text(value).upper()) if upper else _text
    return _Field(check, html, (zh, en))


def _choice_field(zh: str, en: str, *choices: str) -> _Field:
    return _Field(_one_of(*choices), {"options": choices}, (zh, en))


def _decimal_field(zh: str, en: str, minimum: str, maximum: str | None = None) -> _Field:
    html: dict[str, _Attribute] = {
        "type": "number",
        "step": "0.01",
        "min": minimum,
        "inputmode": "decimal",
    }
    if maximum is not None:
        html["max"] = maximum
    low, high = Decimal(minimum), None if maximum is None else Decimal(maximum)
    return _Field(_decimal(minimum=low, maximum=high), html, (zh, en))


def _whole_field(zh: str, en: str, low: int, high: int) -> _Field:
    html: dict[str, _Attribute] = {
        "type": "number",
        "step": "1",
        "min": str(low),
        "max": str(high),
        "integer": True,
    }
    return _Field(_whole(low, high), html, (zh, en))


_FIELDS: Final[Mapping[str, _Field]] = MappingProxyType(
    {
        "id_number": _text_field(
            "身份证号码", "ID number", maxlength=18, pattern="[0-9]{17}[0-9Xx]", upper=True
        ),
        "name": _text_field("姓名", "Name", maxlength=50),
        "risk_level": _choice_field("已有风险等级", "Risk level on record", *RISK_LEVELS),
        "assessment_date": _Field(_iso_date, {"type": "date"}, ("评估日期", "Assessment date")),
        "product_code": _Field(
            _code, {"type": "text", "maxlength": "30"}, ("产品代码", "Product code")
        ),
        "product_name": _text_field("产品名称", "Product name", maxlength=100),
        "product_risk": _choice_field("产品风险等级", "Product risk rating", *PRODUCT_RISKS),
        "purchase_amount": _decimal_field("购买金额（元）", "Purchase amount (CNY)", "0.01"),
        "loan_purpose": _choice_field(
            "贷款用途",
            "Loan purpose",
            *("consumption", "home_renovation", "education", "car", "business", "other"),
        ),
        "employer": _text_field("工作单位", "Employer", maxlength=100),
        "monthly_income": _decimal_field("月收入（元）", "Monthly income (CNY)", "0"),
        "loan_amount": _decimal_field("贷款金额（元）", "Loan amount (CNY)", "0.01"),
        "loan_term_months": _whole_field("期限（月）", "Term (months)", 1, 360),
        "loan_rate": _decimal_field("利率（%）", "Interest rate (%)", "0.01", "36"),
        "loan_apr": _decimal_field("年化利率（%）", "APR (%)", "0.01", "36"),
        "repayment_method": _choice_field(
            "还款方式", "Repayment", "equal_installment", "equal_principal", "interest_first"
        ),
        "company_name": _text_field("企业名称", "Company name", maxlength=100),
        "credit_code": _text_field(
            "统一社会信用代码",
            "Unified social credit code",
            maxlength=18,
            pattern="[0-9A-Za-z]{18}",
            upper=True,
        ),
        "registered_address": _text_field("注册地址", "Registered address", maxlength=200),
    }
)
# Facts a step may collect from event data (named in `collects` / `may_collect`).
COLLECTABLE: Final[Mapping[str, Validator]] = MappingProxyType(
    {name: field.validator for name, field in _FIELDS.items()}
)


def input_specs() -> dict[str, dict[str, Any]]:
    """How a form asks for each collectable fact: HTML input attributes and a label.

    ``options`` lists a choice's values; ``upper`` and ``integer`` tell the page to
    upper-case the text or send a whole number; ``label`` is ``{"zh-CN": ..., "en": ...}``.
    """
    specs: dict[str, dict[str, Any]] = {}
    for name, field in _FIELDS.items():
        spec: dict[str, Any] = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in field.html.items()
        }
        spec["label"] = {"zh-CN": field.label[0], "en": field.label[1]}
        specs[name] = spec
    return specs


# Facts set by the engine itself (answers merged, effects), restored from storage like the rest.
DERIVED: Final[Mapping[str, Validator]] = MappingProxyType(
    {
        ANSWERS_KEY: _str_map,
        EVIDENCE_KEY: _evidence,
        "risk_score": _whole(0, 10_000),
        "assessment_expires": _iso_date,
        "suitability": _record,
    }
)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(key): _freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"{type(value).__name__} is not a JSON value")


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


class FlowContext(Mapping[str, Any]):
    """Facts and evidence collected so far in one session; immutable, restorable from JSON."""

    __slots__ = ("_facts",)

    def __init__(self, facts: Mapping[str, Any] | None = None) -> None:
        checked: dict[str, Any] = {}
        for key, value in (facts or {}).items():
            validator = COLLECTABLE.get(key) or DERIVED.get(key)
            if validator is None:
                raise InvalidContext(key, "not a known fact")
            try:
                checked[key] = _freeze(validator(value))
            except ValueError as exc:
                raise InvalidContext(key, str(exc)) from None
        self._facts: Mapping[str, Any] = MappingProxyType(checked)

    def __getitem__(self, key: str) -> Any:
        return self._facts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def __repr__(self) -> str:
        return f"FlowContext({self.to_dict()!r})"

    def evidence(self, step: str) -> Mapping[str, str]:
        """The evidence recorded in `step`: evidence type -> reference."""
        by_step: Mapping[str, Mapping[str, str]] = self._facts.get(EVIDENCE_KEY, {})
        return by_step.get(step, MappingProxyType({}))

    def answers(self) -> Mapping[str, str]:
        """The questionnaire answers so far: question id -> option id."""
        answers: Mapping[str, str] = self._facts.get(ANSWERS_KEY, MappingProxyType({}))
        return answers

    def updated(
        self,
        facts: Mapping[str, Any] = MappingProxyType({}),
        *,
        step: str | None = None,
        evidence: Mapping[str, str] = MappingProxyType({}),
        answers: Mapping[str, str] = MappingProxyType({}),
    ) -> FlowContext:
        """A new context with `facts` replaced and `evidence` / `answers` merged in."""
        merged = {**self.to_dict(), **_thaw(facts)}
        if answers:
            merged[ANSWERS_KEY] = {**_thaw(self.answers()), **answers}
        if evidence and step is not None:
            by_step = _thaw(self._facts.get(EVIDENCE_KEY, {}))
            by_step[step] = {**by_step.get(step, {}), **evidence}
            merged[EVIDENCE_KEY] = by_step
        return FlowContext(merged)

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable copy to store with the session's state."""
        result: dict[str, Any] = _thaw(self._facts)
        return result
