"""The agent's side: the browser console pages and the scripted agent of the demo."""

from .keys import AUDIT_CACHE, DATABASE, LIVE_CALLS, RECORDINGS_DIR, TIMEZONE, TRUSTED_KEY
from .pages import setup_console
from .recordings import RecordingCache
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

__all__ = [
    "AUDIT_CACHE",
    "CUSTOMER",
    "DATABASE",
    "LIVE_CALLS",
    "PRODUCT",
    "RECORDINGS_DIR",
    "TIMEZONE",
    "TRUSTED_KEY",
    "AgentResult",
    "RecordingCache",
    "Script",
    "ScriptedAgent",
    "StepPlan",
    "script_for",
    "setup_console",
    "synthetic_credit_code",
    "synthetic_resident_id",
]
