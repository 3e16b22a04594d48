"""The session context: an immutable, JSON-storable record of the facts and evidence so far."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from workflow.errors import InvalidContext

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


# Facts a step may collect from event data (named in `collects` / `may_collect`).
COLLECTABLE: Final[Mapping[str, Validator]] = MappingProxyType(
    {
        "id_number": lambda value: _text(value).upper(),
        "name": _text,
        "risk_level": _one_of("C1", "C2", "C3", "C4", "C5"),
        "assessment_date": _iso_date,
        "product_code": _code,
        "product_name": _text,
        "product_risk": _one_of("R1", "R2", "R3", "R4", "R5"),
        "purchase_amount": _positive,
        "loan_purpose": _one_of(
            "consumption", "home_renovation", "education", "car", "business", "other"
        ),
        "employer": _text,
        "monthly_income": _decimal(minimum=Decimal(0)),
        "loan_amount": _positive,
        "loan_term_months": _whole(1, 360),
        "loan_rate": _decimal(minimum=Decimal("0.01"), maximum=Decimal(36)),
        "loan_apr": _decimal(minimum=Decimal("0.01"), maximum=Decimal(36)),
        "repayment_method": _one_of("equal_installment", "equal_principal", "interest_first"),
        "company_name": _text,
        "credit_code": lambda value: _text(value).upper(),
        "registered_address": _text,
    }
)
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
