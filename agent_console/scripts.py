"""What the scripted agent enters at each step of each flow: a small per-flow script.

A step missing from a script is advanced with its one forward event and no data.
Where a step has two ways on (a guard decides), the plan lists the events in the
order the agent tries them: the server refuses the one whose guard does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from workflow import InvalidCreditCode, InvalidIdNumber, validate_credit_code, validate_resident_id

_CHECK_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _empty() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True)
class StepPlan:
    """The agent's part in one step: events to try in order, and the data they carry."""

    events: tuple[str, ...]
    data: Mapping[str, object] = field(default_factory=_empty)


Script = Mapping[str, StepPlan]


def synthetic_resident_id(born: date, region: str = "110105", sequence: str = "123") -> str:
    """A valid (made-up) 18-character resident ID number: the check digit is worked out."""
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    for check in "0123456789X":
        try:
            return validate_resident_id(first17 + check).number
        except InvalidIdNumber:
            continue
    raise ValueError(f"no check digit makes {first17} valid")


def synthetic_credit_code(body: str = "91110108MA01ABCD1") -> str:
    """A valid (made-up) unified social credit code: the check character is worked out."""
    for check in _CHECK_CHARACTERS:
        try:
            return validate_credit_code(body + check)
        except InvalidCreditCode:
            continue
    raise ValueError(f"no check character makes {body} valid")


CUSTOMER: Mapping[str, object] = MappingProxyType(
    {"name": "张伟", "id_number": synthetic_resident_id(date(1985, 6, 15))}
)
PRODUCT: Mapping[str, object] = MappingProxyType(
    {
        "product_code": "WM2025-017",
        "product_name": "稳健增利90天",
        "product_risk": "R3",
        "purchase_amount": "50000.00",
    }
)
_IDENTITY = StepPlan(("identity_verified",), CUSTOMER)


def script_for(
    flow: str,
    *,
    customer: Mapping[str, object] = CUSTOMER,
    assessment: Mapping[str, object] | None = None,
    product: Mapping[str, object] = PRODUCT,
) -> Script:
    """The script of ``flow``; ``assessment`` is the risk level on record (none by default)."""
    scripts: dict[str, dict[str, StepPlan]] = {
        "wealth_purchase": {
            "assessment_check": StepPlan(
                ("assessment_valid", "assessment_needed"), dict(assessment or {})
            ),
            "product_selection": StepPlan(("product_suitable", "product_refused"), product),
        },
        "loan_review": {
            "loan_application": StepPlan(
                ("application_answered",),
                {
                    "loan_amount": "200000.00",
                    "loan_term_months": 36,
                    "loan_purpose": "home_renovation",
                    "employer": "北京示例科技有限公司",
                    "monthly_income": "25000.00",
                },
            ),
            "terms_disclosure": StepPlan(
                ("terms_disclosed",),
                {"loan_rate": "3.85", "loan_apr": "4.10", "repayment_method": "equal_installment"},
            ),
        },
        "corporate_account_verification": {
            "company_details": StepPlan(
                ("company_details_confirmed",),
                {
                    "company_name": "北京示例科技有限公司",
                    "credit_code": synthetic_credit_code(),
                    "registered_address": "北京市海淀区中关村大街1号",
                },
            ),
        },
    }
    script = scripts.get(flow, {})
    script["identity_check"] = StepPlan(_IDENTITY.events, customer)
    return MappingProxyType(script)
