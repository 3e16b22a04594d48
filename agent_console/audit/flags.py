"""The inspection's flags as auditors see them: each check's name and meaning in zh-CN
and en, and the flagged time ranges of a part placed on its replay timeline.

A flag is a check that failed or needs review. Its ranges come from the part's report
file (``inspection.json``, read from the recordings store and checked against the
SHA-256 the database holds); a check that names no range is marked over its step (or
the whole part, for a check of the part).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from common import sha256_file
from inspection import REPORT_FILE, Check, InspectionReport, Verdict
from storage import InspectionView, StorageError

from ..recordings import RecordingCache, part_prefix


@dataclass(frozen=True)
class Words:
    """A check's name and what its flag means, in both languages of the pages."""

    zh: str
    en: str
    meaning_zh: str
    meaning_en: str


def _words(zh: str, en: str, meaning_zh: str, meaning_en: str) -> Words:
    return Words(zh, en, meaning_zh, meaning_en)


#: The checks the inspection makes today; one it adds later shows by its name and detail.
CHECKS: Final[Mapping[str, Words]] = MappingProxyType(
    {
        "customer_face": _words(
            "客户人脸", "Customer's face", "画面中看不到客户的脸", "The customer's face is not seen"
        ),
        "agent_face": _words(
            "坐席人脸", "Agent's face", "画面中看不到坐席的脸", "The agent's face is not seen"
        ),
        "customer_left_picture": _words(
            "客户离开画面", "Customer left", "客户离开了画面", "The customer left the picture"
        ),
        "second_face": _words(
            "第二张人脸",
            "Second face",
            "客户画面中出现他人",
            "Someone else is in the customer's picture",
        ),
        "kiosk_picture": _words(
            "客户画面", "Customer's video", "客户视频黑屏、冻结或遮挡", "Black, frozen or covered"
        ),
        "agent_picture": _words(
            "坐席画面", "Agent's video", "坐席视频黑屏、冻结或遮挡", "Black, frozen or covered"
        ),
        "kiosk_audio": _words(
            "客户声音", "Customer's sound", "几乎听不到客户的声音", "The customer is hardly heard"
        ),
        "agent_audio": _words(
            "坐席声音", "Agent's sound", "几乎听不到坐席的声音", "The agent is hardly heard"
        ),
        "silence": _words("长时间静音", "Long silence", "双方长时间无声", "Nobody speaks for long"),
        "disclosure_read": _words(
            "风险揭示宣读",
            "Disclosure read",
            "揭示内容读得过快或未读完",
            "The disclosure was read too fast or not in full",
        ),
        "evidence": _words(
            "环节证据", "Step's evidence", "环节证据缺失或损坏", "Evidence missing or damaged"
        ),
        "evidence_order": _words(
            "证据顺序", "Evidence order", "证据顺序与流程不符", "Evidence out of the flow's order"
        ),
        "customer_identity": _words(
            "客户身份",
            "Customer identity",
            "通话中的人脸与身份证照片不符或无法比对",
            "The face in the call does not match the ID photo, or could not be compared",
        ),
        "signature": _words(
            "签名", "Signature", "签名空白或无法识别", "The signature is blank or unreadable"
        ),
        "confirmation_speech": _words(
            "口头确认",
            "Spoken confirmation",
            "客户未说出确认语、表示拒绝或说了别的话",
            "The customer did not say the confirmation phrase, refused or said something else",
        ),
    }
)
#: Each verdict in both languages.
VERDICT_WORDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "pass": "通过 pass",
        "needs_review": "需复核 needs review",
        "fail": "不通过 fail",
        "not_inspected": "未质检 not inspected",
    }
)


def words(check: str) -> Words:
    """The words of ``check`` (its own name, for a check the pages do not know yet)."""
    return CHECKS.get(check) or _words(check, check, "", "")


#: The narrowest mark, in % of the timeline: a short range stays visible and clickable.
_MIN_WIDTH = 0.6


@dataclass(frozen=True)
class Mark:
    """One flagged time range of a check, placed on the part's timeline."""

    check: str
    verdict: str
    step: str | None
    start_ms: int
    end_ms: int
    detail: str
    #: Where the mark starts and how wide it is, in % of the timeline.
    left: float
    width: float

    @property
    def words(self) -> Words:
        """The check's words."""
        return words(self.check)


@dataclass(frozen=True)
class PartInspection:
    """What the replay page shows of a part's inspection."""

    summary: InspectionView
    marks: tuple[Mark, ...]
    #: Why the marks are missing, when the report could not be read or does not match.
    problem: str | None = None


def _marks_of(
    check: Check, step: str | None, start_ms: int, end_ms: int, total_ms: int
) -> list[Mark]:
    spans = [(s.start_ms, s.end_ms) for s in check.spans] or [(start_ms, end_ms)]
    found = []
    for a, b in spans:
        # Kept on the timeline: a range may end after the last track's last frame.
        left = min(100.0 - _MIN_WIDTH, 100 * a / total_ms)
        width = max(_MIN_WIDTH, min(100.0 - left, 100 * (b - a) / total_ms))
        found.append(Mark(check.name, check.verdict.value, step, a, b, check.detail, left, width))
    return found


def marks(report: InspectionReport, total_ms: int) -> list[Mark]:
    """Every failed or needs-review check's ranges, in time order."""
    total_ms = max(total_ms, 1)
    found: list[Mark] = []
    for check in report.checks:
        if check.verdict is not Verdict.PASS:
            found += _marks_of(check, None, 0, total_ms, total_ms)
    for step in report.steps:
        for check in step.checks:
            if check.verdict is not Verdict.PASS:
                found += _marks_of(check, step.name, step.start_ms, step.end_ms, total_ms)
    return sorted(found, key=lambda m: (m.start_ms, m.check))


def read_inspection(
    cache: RecordingCache, summary: InspectionView, total_ms: int
) -> PartInspection:
    """The part's report read from the store and placed on its timeline (blocking)."""
    try:
        path = cache.file(f"{part_prefix(summary.session_id, summary.part)}/{REPORT_FILE}")
        if sha256_file(path) != summary.sha256:
            return PartInspection(summary, (), f"{REPORT_FILE} does not match the database")
        report = InspectionReport.parse(json.loads(path.read_text("utf-8")))
    except (LookupError, OSError, ValueError, KeyError, TypeError, StorageError) as exc:
        return PartInspection(summary, (), f"{REPORT_FILE} unreadable ({type(exc).__name__})")
    return PartInspection(summary, tuple(marks(report, total_ms)))
