"""The agent's side: the browser console pages and the scripted agent of the demo."""

from .admin import setup_admin
from .scripted import AgentResult, ScriptedAgent
from .scripts import (
    CUSTOMER,
    PRODUCT,
    Script,
    StepPlan,
    script_for,
    synthetic_credit_code,
    synthetic_resident_id,
)
from .web import CONSOLE_ROLES, setup_console

__all__ = [
    "CONSOLE_ROLES",
    "CUSTOMER",
    "PRODUCT",
    "AgentResult",
    "Script",
    "ScriptedAgent",
    "StepPlan",
    "script_for",
    "setup_admin",
    "setup_console",
    "synthetic_credit_code",
    "synthetic_resident_id",
]
