"""The words a page shows for the vocabulary's members, in each language.

A label belongs to its member, not to a script: the agent's workspace and the
supervisor's page read these from the rendered vocabulary instead of keeping tables
keyed by evidence kind or presence state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from common import TTS_PLAYED, EvidenceKind, Language, Presence

Label = Mapping[Language, str]


def _label(zh: str, en: str) -> Label:
    return MappingProxyType({Language.ZH_CN: zh, Language.EN: en})


EVIDENCE_LABELS: Final[Mapping[EvidenceKind, Label]] = MappingProxyType(
    {
        EvidenceKind.SPOKEN_CONFIRMATION: _label("口头确认", "Spoken confirmation"),
        EvidenceKind.TICK_CONFIRMATION: _label("勾选确认", "Ticked to confirm"),
        EvidenceKind.SIGNATURE_IMAGE: _label("签名", "Signature"),
        EvidenceKind.QUESTIONNAIRE_ANSWERS: _label("问卷答案", "Questionnaire answers"),
        EvidenceKind.ID_PHOTO: _label("身份证照片", "ID photo"),
        EvidenceKind.DOCUMENT_ACKNOWLEDGED: _label("文件已阅读", "Documents acknowledged"),
        EvidenceKind.CONSENT: _label("同意录音录像", "Consent"),
    }
)
#: What else a step's evidence list may hold: the server's record that its announcement
#: was played to the end (not a kind a step requires).
RECORD_LABELS: Final[Mapping[str, Label]] = MappingProxyType(
    {TTS_PLAYED: _label("播报已完成", "Announcement played")}
)
PRESENCE_LABELS: Final[Mapping[Presence, Label]] = MappingProxyType(
    {
        Presence.AVAILABLE: _label("空闲", "Available"),
        Presence.BUSY: _label("通话中", "In a call"),
        Presence.AFTER_CALL: _label("话后处理", "After-call work"),
        Presence.AWAY: _label("离开", "Away"),
    }
)


def _json(labels: Iterable[tuple[str, Label]]) -> dict[str, dict[str, str]]:
    return {str(key): {lang.value: text for lang, text in label.items()} for key, label in labels}


def page_labels() -> dict[str, dict[str, dict[str, str]]]:
    """The labels as JSON-ready data: group -> member -> language -> text."""
    return {
        "evidence": _json([*EVIDENCE_LABELS.items(), *RECORD_LABELS.items()]),
        "presence": _json(PRESENCE_LABELS.items()),
    }
