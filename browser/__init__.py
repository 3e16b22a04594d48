"""What the browser pages share: their common ES modules and what the server tells them.

``STATIC_DIR`` holds JavaScript modules used by both the kiosk page and the consoles
(signalling client, WebRTC helpers, i18n core, DOM helpers, the vocabulary reader); the
app serves it at ``/static/shared/``. ``page_vocabulary()`` is rendered into every page
as JSON (``<script type="application/json" id="vocabulary">``), so the scripts never
keep their own copies of the server's words, input patterns or labels.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from common import (
    TTS_PLAYED,
    EvidenceKind,
    Language,
    MediaKind,
    Party,
    Presence,
    Role,
    browser_vocabulary,
)
from workflow import ABORT_EVENT, ABORTED_STEP, input_specs

from .labels import page_labels

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static/shared"
#: The enums whose members the scripts name, as ``Name.MEMBER`` (see static/vocabulary.js).
_NAMED: tuple[type[StrEnum], ...] = (Party, Role, Language, Presence, EvidenceKind, MediaKind)


def page_vocabulary() -> dict[str, Any]:
    """The vocabulary a page's scripts need, as JSON-ready data.

    Besides the lists of ``common.browser_vocabulary()``: ``names`` (each enum's members
    by name, so a script writes ``Evidence.SIGNATURE_IMAGE`` rather than the string; also
    the workflow's abort event and step, and the server's announcement record),
    ``inputs`` (``workflow.input_specs()``: how a form asks for each fact) and
    ``labels`` (evidence kinds and presence states in each language).
    """
    return {
        **browser_vocabulary(),
        "names": {
            **{enum.__name__: {m.name: m.value for m in enum} for enum in _NAMED},
            "Workflow": {"ABORT_EVENT": ABORT_EVENT, "ABORTED_STEP": ABORTED_STEP},
            "Record": {"TTS_PLAYED": TTS_PLAYED},
        },
        "inputs": input_specs(),
        "labels": page_labels(),
    }


__all__ = ["STATIC_DIR", "STATIC_URL", "page_vocabulary"]
