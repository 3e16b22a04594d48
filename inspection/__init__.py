"""Automated quality inspection (智能质检) of finished recording parts.

Pure checks, each in its own module (``faces``, ``picture``, ``sound``, ``disclosure``,
``completeness``) over a part read back (``recording``), put together step by step by
``analyse``; ``run`` carries the report into the recording (chained, signed) and the
database.
"""

from inspection.analyse import Limits, inspect_folder, inspect_recorded
from inspection.errors import InspectionError, NotInspectable
from inspection.recording import RecordedPart, StepSpan, read_part
from inspection.report import REPORT_FILE, InspectionReport, StepReport, format_report
from inspection.run import Inspected, inspect_folder_once, inspect_part
from inspection.spoken import SpeechLimits
from inspection.verdicts import Check, Model, Span, Verdict

__all__ = [
    "REPORT_FILE",
    "Check",
    "Inspected",
    "InspectionError",
    "InspectionReport",
    "Limits",
    "Model",
    "NotInspectable",
    "RecordedPart",
    "Span",
    "SpeechLimits",
    "StepReport",
    "StepSpan",
    "Verdict",
    "format_report",
    "inspect_folder",
    "inspect_folder_once",
    "inspect_part",
    "inspect_recorded",
    "read_part",
]
