"""The happy path of every packaged flow: each step's event with the data and evidence it needs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from workflow import FlowContext, Transition, advance, load_flows

FLOWS = load_flows()
NOW = datetime(2025, 6, 15, 10, 30, tzinfo=UTC)
GOOD_ID = "11010519491231002X"
Data = dict[str, Any]
Path_ = list[tuple[str, str, Data]]


def evidence(*kinds: str, **facts: Any) -> Data:
    """Event data carrying a reference for each evidence type, plus `facts`."""
    return {**facts, "evidence": {kind: f"sha256:{kind}-0f3a" for kind in kinds}}


IDENTITY = (
    "identity_check",
    "identity_verified",
    evidence("id_photo", id_number=GOOD_ID, name="张三"),
)
FINANCE = {"age": "b", "annual_income": "c", "investment_share": "c", "income_source": "b"}
FINANCE |= {"debt": "c"}  # 10 + 8 + 7 + 6 + 10 = 41
EXPERIENCE = {"experience_years": "c", "products_held": "c", "knowledge": "b", "horizon": "c"}
EXPERIENCE |= {"loss_tolerance": "c"}  # 7 + 7 + 4 + 8 + 7 = 33: total 74, level C4
QUESTIONNAIRE: Path_ = [
    (
        "questionnaire_finance",
        "finance_answered",
        evidence("questionnaire_answers", answers=FINANCE),
    ),
    (
        "questionnaire_experience",
        "questionnaire_completed",
        evidence("questionnaire_answers", answers=EXPERIENCE),
    ),
]
PRODUCT = {
    "product_code": "WM-2025-090",
    "product_name": "稳享90天",
    "product_risk": "R2",
    "purchase_amount": "50000.00",
}
AFTER_SUITABLE: Path_ = [
    ("risk_disclosure", "risk_confirmed", evidence("document_acknowledged", "spoken_confirmation")),
    ("cooling_off", "cooling_off_acknowledged", evidence("tick_confirmation")),
    ("signature", "signature_captured", evidence("signature_image")),
]

PATHS: dict[str, tuple[Path_, str]] = {
    "card_opening": (
        [
            IDENTITY,
            ("consent", "consent_given", evidence("consent", "tick_confirmation")),
            (
                "terms_disclosure",
                "terms_disclosed",
                evidence("document_acknowledged", "spoken_confirmation"),
            ),
            (
                "confirmation",
                "customer_confirmed",
                evidence("spoken_confirmation", "tick_confirmation"),
            ),
            ("signature", "signature_captured", evidence("signature_image")),
        ],
        "completed",
    ),
    "risk_assessment": (
        [
            IDENTITY,
            ("consent", "consent_given", evidence("consent", "tick_confirmation")),
            *QUESTIONNAIRE,
            (
                "result_confirmation",
                "result_confirmed",
                evidence("spoken_confirmation", "tick_confirmation"),
            ),
        ],
        "completed",
    ),
    "wealth_purchase": (
        [
            IDENTITY,
            ("consent", "consent_given", evidence("consent", "tick_confirmation")),
            (
                "assessment_check",
                "assessment_valid",
                {"risk_level": "C3", "assessment_date": "2025-01-10"},
            ),
            ("product_selection", "product_suitable", PRODUCT),
            *AFTER_SUITABLE,
        ],
        "purchase_confirmed",
    ),
    "loan_review": (
        [
            IDENTITY,
            ("consent", "consent_given", evidence("consent", "tick_confirmation")),
            (
                "loan_application",
                "application_answered",
                evidence(
                    "spoken_confirmation",
                    loan_amount="200000",
                    loan_term_months=36,
                    loan_purpose="home_renovation",
                    employer="上海浦江科技有限公司",
                    monthly_income="25000",
                ),
            ),
            (
                "terms_disclosure",
                "terms_disclosed",
                evidence(
                    "document_acknowledged",
                    "spoken_confirmation",
                    loan_rate="3.85",
                    loan_apr="3.92",
                    repayment_method="equal_installment",
                ),
            ),
            (
                "loan_consent",
                "loan_consent_given",
                evidence("consent", "spoken_confirmation", "tick_confirmation"),
            ),
            ("signature", "signature_captured", evidence("signature_image")),
        ],
        "submitted",
    ),
    "corporate_account_verification": (
        [
            IDENTITY,
            ("consent", "consent_given", evidence("consent", "tick_confirmation")),
            (
                "willingness",
                "willingness_confirmed",
                evidence("spoken_confirmation", "tick_confirmation"),
            ),
            (
                "company_details",
                "company_details_confirmed",
                evidence(
                    "document_acknowledged",
                    "tick_confirmation",
                    company_name="深圳市腾讯计算机系统有限公司",
                    credit_code="91440300708461136T",
                    registered_address="深圳市南山区高新区科技中一路腾讯大厦",
                ),
            ),
        ],
        "verified",
    ),
}


def restart(context: Mapping[str, Any]) -> FlowContext:
    """The context as a server restores it after a restart: through JSON and back."""
    return FlowContext(json.loads(json.dumps(FlowContext(context).to_dict())))


def walk(
    flow_name: str,
    path: Path_,
    context: Mapping[str, Any] | None = None,
    now: datetime = NOW,
    state: str | None = None,
) -> tuple[str, FlowContext, list[Transition]]:
    """Take `path` from `state` (default: the initial step), restarting between every step."""
    flow = FLOWS[flow_name]
    state = flow.initial if state is None else state
    current = FlowContext(context)
    taken: list[Transition] = []
    for expected, event, data in path:
        assert state == expected
        transition = advance(flow, state, event, data=data, context=restart(current), now=now)
        taken.append(transition)
        state, current = transition.target, transition.context
    return state, current, taken
