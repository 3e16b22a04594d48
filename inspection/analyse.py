"""All the checks of one recording part, step by step: the pure core of inspection.

``inspect_recorded`` takes a part already read (``recording.read_part``) and its flow and
returns the report; nothing here writes a file or touches the database (``run`` does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common import TTS_PLAYED, Language, Party
from workflow import Flow

from . import completeness, disclosure, faces, identity, picture, sound
from .faces import FaceDetector, FaceLimits
from .identity import IdentityLimits
from .picture import PictureLimits
from .recogniser import recogniser_for
from .recording import RecordedPart, read_part
from .report import InspectionReport, StepReport
from .sound import Activity, SoundLimits
from .spoken import SpeechLimits, confirmation_speech
from .verdicts import RULES, Check, Model

#: Steps shorter than this are too short to judge by picture and sound.
MIN_STEP_MS = 500


@dataclass(frozen=True)
class Limits:
    """Every threshold of the checks."""

    faces: FaceLimits = field(default_factory=FaceLimits)
    picture: PictureLimits = field(default_factory=PictureLimits)
    sound: SoundLimits = field(default_factory=SoundLimits)
    rates: disclosure.Rates = field(default_factory=disclosure.Rates)
    speech: SpeechLimits = field(default_factory=SpeechLimits)
    identity: IdentityLimits = field(default_factory=IdentityLimits)


def _language(part: RecordedPart) -> str:
    for row in part.evidence():
        if row["kind"] == TTS_PLAYED and row.get("file"):
            record = part.evidence_record(str(row["file"]))
            if record and record.get("language") in {lang.value for lang in Language}:
                return str(record["language"])
    return Language.ZH_CN.value


def inspect_recorded(
    part: RecordedPart,
    flow: Flow,
    limits: Limits | None = None,
    detector: FaceDetector | None = None,
) -> InspectionReport:
    """Run every check on a part read back; the report (blocking, CPU-bound)."""
    limits = limits or Limits()
    detector = detector or FaceDetector()
    began = time.process_time()
    kiosk_pics, agent_pics = part.pictures[Party.KIOSK], part.pictures[Party.AGENT]
    kiosk_faces, agent_faces = detector.counts(kiosk_pics), detector.counts(agent_pics)
    faults = {p: picture.picture_faults(part.pictures[p], limits.picture) for p in Party}
    heard: dict[Party, Activity] = {p: sound.activity(part.sound[p], limits.sound) for p in Party}
    language = _language(part)
    confirms = any(flow.step(v.name).confirmation_phrase is not None for v in part.steps)
    recogniser = recogniser_for(language, limits.speech.models) if confirms else None
    steps: list[StepReport] = []
    for visit in part.steps:
        checks: list[Check] = []
        definition = flow.step(visit.name)
        key = definition.tts is not None or definition.confirmation_phrase is not None
        a, b = visit.start_ms, visit.end_ms
        if b - a >= MIN_STEP_MS:
            checks += [
                faces.face_present(
                    "customer_face",
                    "customer",
                    kiosk_pics,
                    kiosk_faces,
                    a,
                    b,
                    key_step=key,
                    limits=limits.faces,
                ),
                faces.left_picture(kiosk_pics, kiosk_faces, a, b, limits.faces),
                faces.extra_faces(kiosk_pics, kiosk_faces, a, b, limits.faces),
                faces.face_present(
                    "agent_face",
                    "agent",
                    agent_pics,
                    agent_faces,
                    a,
                    b,
                    key_step=key,
                    limits=limits.faces,
                ),
                picture.picture_check(
                    "kiosk", kiosk_pics, faults[Party.KIOSK], a, b, limits.picture
                ),
                picture.picture_check(
                    "agent", agent_pics, faults[Party.AGENT], a, b, limits.picture
                ),
                sound.silences(list(heard.values()), a, b, limits.sound),
            ]
        if definition.tts is not None:
            text = definition.tts[language]
            checks.append(
                disclosure.reading_check(text, language, heard[Party.AGENT], a, b, limits.rates)
            )
        if definition.confirmation_phrase is not None:
            phrase = definition.confirmation_phrase[language]
            kiosk_sound, kiosk_heard = part.sound[Party.KIOSK], heard[Party.KIOSK]
            checks.append(
                confirmation_speech(
                    kiosk_sound, kiosk_heard, a, b, phrase, language, recogniser, limits.speech
                )
            )
        checks.append(completeness.step_evidence(flow, part, visit))
        if completeness.needs_signature(flow, visit):
            checks.append(completeness.signature(part, visit))
        steps.append(StepReport(visit.name, a, b, tuple(checks)))
    part_checks: tuple[Check, ...] = (
        sound.heard("kiosk", heard[Party.KIOSK], part.end_ms, limits.sound),
        sound.heard("agent", heard[Party.AGENT], part.end_ms, limits.sound),
        completeness.evidence_order(part),
    )
    models: list[Model] = [faces.MODEL, picture.MODEL, sound.MODEL, disclosure.MODEL]
    models += [completeness.SIGNATURE_MODEL, RULES]
    if recogniser is not None:
        models.append(recogniser.model)
    if identity.owed(flow, part):  # the whole part's face against the ID photo's
        part_checks += (identity.customer_identity(part, limits.identity),)
        models.append(identity.MODEL)
    return InspectionReport(
        session_id=part.session_id,
        part=part.part,
        flow=flow.name,
        inspected_at=datetime.now(UTC).isoformat(),
        duration_s=part.end_ms / 1000,
        steps=tuple(steps),
        checks=part_checks,
        cpu_s=time.process_time() - began,
        models=tuple(m.to_dict() for m in models),
    )


def inspect_folder(folder: Path, flow: Flow, limits: Limits | None = None) -> InspectionReport:
    """Read a closed part's folder and inspect it (blocking); the report."""
    began = time.process_time()
    part = read_part(folder, flow.initial)
    report = inspect_recorded(part, flow, limits)
    return InspectionReport(**{**report.__dict__, "cpu_s": time.process_time() - began})
