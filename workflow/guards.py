"""The fixed registry of guards and effects that flow files may name on a transition."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from workflow.context import FlowContext
from workflow.errors import InvalidAnswers, InvalidCreditCode, InvalidIdNumber
from workflow.flow import Flow
from workflow.identity import validate_credit_code, validate_resident_id
from workflow.risk import assessment_expiry, assessment_valid, suitable

Check = Callable[[Flow, FlowContext, datetime | None], str | None]
Apply = Callable[[Flow, FlowContext, datetime | None], Mapping[str, Any]]


@dataclass(frozen=True)
class Guard:
    """A named condition on a transition: `check` returns None if it holds, else why not."""

    name: str
    check: Check
    needs_clock: bool = False


@dataclass(frozen=True)
class Effect:
    """A named update of the context, applied when its transition is taken."""

    name: str
    apply: Apply
    needs_clock: bool = False


def _today(now: datetime | None) -> date:
    if now is None:  # the engine checks needs_clock first; this is a programming error
        raise RuntimeError("this guard or effect needs the current time")
    return now.date()


def _id_number_valid(flow: Flow, context: FlowContext, now: datetime | None) -> str | None:
    number = context.get("id_number")
    if number is None:
        return "no ID number was given"
    try:
        validate_resident_id(number, today=None if now is None else now.date())
    except InvalidIdNumber as exc:
        return str(exc)
    return None


def _credit_code_valid(flow: Flow, context: FlowContext, now: datetime | None) -> str | None:
    code = context.get("credit_code")
    if code is None:
        return "no unified social credit code was given"
    try:
        validate_credit_code(code)
    except InvalidCreditCode as exc:
        return str(exc)
    return None


def _assessment_problem(context: FlowContext, today: date) -> str | None:
    """None if the context holds an assessment valid today, else what is wrong with it."""
    level, assessed = context.get("risk_level"), context.get("assessment_date")
    if level is None or assessed is None:
        return "the customer has no risk assessment on record"
    assessed_on = date.fromisoformat(assessed)
    if not assessment_valid(assessed_on, today):
        return f"the risk assessment of {assessed} expired on {assessment_expiry(assessed_on)}"
    return None


def _assessment_valid(flow: Flow, context: FlowContext, now: datetime | None) -> str | None:
    return _assessment_problem(context, _today(now))


def _assessment_missing_or_expired(
    flow: Flow, context: FlowContext, now: datetime | None
) -> str | None:
    if _assessment_problem(context, _today(now)) is not None:
        return None
    expiry = assessment_expiry(date.fromisoformat(context["assessment_date"]))
    last_day = expiry - timedelta(days=1)
    return f"the risk assessment ({context['risk_level']}) is still valid until {last_day}"


def _questionnaire_complete(flow: Flow, context: FlowContext, now: datetime | None) -> str | None:
    if flow.questionnaire is None:
        return "the flow has no questionnaire"
    missing = flow.questionnaire.missing(context.answers())
    return f"unanswered questions: {', '.join(missing)}" if missing else None


def _match(context: FlowContext) -> tuple[str, str] | str:
    level, risk = context.get("risk_level"), context.get("product_risk")
    if level is None:
        return "the customer has no risk level"
    if risk is None:
        return "the product has no risk rating"
    return level, risk


def _product_suitable(flow: Flow, context: FlowContext, now: datetime | None) -> str | None:
    match = _match(context)
    if isinstance(match, str):
        return match
    level, risk = match
    return None if suitable(level, risk) else f"a {level} customer may not buy an {risk} product"


def _product_unsuitable(flow: Flow, context: FlowContext, now: datetime | None) -> str | None:
    match = _match(context)
    if isinstance(match, str):
        return match
    level, risk = match
    return f"a {level} customer may buy an {risk} product" if suitable(level, risk) else None


def _score_questionnaire(
    flow: Flow, context: FlowContext, now: datetime | None
) -> Mapping[str, Any]:
    if flow.questionnaire is None:
        raise InvalidAnswers("the flow has no questionnaire")
    total, level = flow.questionnaire.score(context.answers())
    today = _today(now)
    return {
        "risk_score": total,
        "risk_level": level,
        "assessment_date": today.isoformat(),
        "assessment_expires": assessment_expiry(today).isoformat(),
    }


def _record_suitability(
    flow: Flow, context: FlowContext, now: datetime | None
) -> Mapping[str, Any]:
    level, risk = context.get("risk_level"), context.get("product_risk")
    return {
        "suitability": {
            "risk_level": level,
            "product_code": context.get("product_code"),
            "product_risk": risk,
            "suitable": level is not None and risk is not None and suitable(level, risk),
            "decided_on": _today(now).isoformat(),
        }
    }


GUARDS: Final[Mapping[str, Guard]] = MappingProxyType(
    {
        guard.name: guard
        for guard in (
            Guard("id_number_valid", _id_number_valid),
            Guard("credit_code_valid", _credit_code_valid),
            Guard("assessment_valid", _assessment_valid, needs_clock=True),
            Guard("assessment_missing_or_expired", _assessment_missing_or_expired, True),
            Guard("questionnaire_complete", _questionnaire_complete),
            Guard("product_suitable", _product_suitable),
            Guard("product_unsuitable", _product_unsuitable),
        )
    }
)
EFFECTS: Final[Mapping[str, Effect]] = MappingProxyType(
    {
        effect.name: effect
        for effect in (
            Effect("score_questionnaire", _score_questionnaire, needs_clock=True),
            Effect("record_suitability", _record_suitability, needs_clock=True),
        )
    }
)
