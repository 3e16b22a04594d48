"""Every flow end to end over real sessions: events, evidence files, hashes and the manifest."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent_console import CUSTOMER, PRODUCT, script_for
from common import rgb_to_yuv
from kiosk_client import CAUTIOUS_ANSWERS, Kiosk, draw_signature, png_data_url
from media.analysis import closest_look, read_audio
from media.verify import verify_recording
from signaling import EvidenceMessage
from storage import SessionDetail
from synthetic import AGENT_LOOK, KIOSK_LOOK
from tests.support import RunningServer, run_flow
from workflow import load_flows, mask_id

FLOWS = load_flows()
PATHS = {
    "card_opening": [
        "identity_verified",
        "consent_given",
        "terms_disclosed",
        "customer_confirmed",
        "signature_captured",
    ],
    "risk_assessment": [
        "identity_verified",
        "consent_given",
        "finance_answered",
        "questionnaire_completed",
        "result_confirmed",
    ],
    "wealth_purchase": [
        "identity_verified",
        "consent_given",
        "assessment_needed",
        "finance_answered",
        "questionnaire_completed",
        "result_confirmed",
        "product_suitable",
        "risk_confirmed",
        "cooling_off_acknowledged",
        "signature_captured",
    ],
    "loan_review": [
        "identity_verified",
        "consent_given",
        "application_answered",
        "terms_disclosed",
        "loan_consent_given",
        "signature_captured",
    ],
    "corporate_account_verification": [
        "identity_verified",
        "consent_given",
        "willingness_confirmed",
        "company_details_confirmed",
    ],
}
LAST = {
    "card_opening": "completed",
    "risk_assessment": "completed",
    "wealth_purchase": "purchase_confirmed",
    "loan_review": "submitted",
    "corporate_account_verification": "verified",
}


async def finished(server: RunningServer, session_id: str) -> tuple[SessionDetail, Path]:
    """The stored session once its composite (and so its final manifest) is done."""
    job = server.centre.composite_jobs.get(session_id)
    if job is not None:
        await job
    return await server.db.get_session(session_id), server.settings.recordings_dir / session_id


def check_evidence(detail: SessionDetail, folder: Path) -> dict[str, Any]:
    """Every step's evidence is a stored, chained file listed in the manifest; the manifest."""
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text("utf-8"))
    chained = {entry["file"]: entry["sha256"] for entry in manifest["chain"]["entries"]}
    listed = {item["file"]: item for item in manifest["evidence"]}
    for item in detail.evidence:
        assert item.file is not None and item.sha256 is not None
        data = (folder / item.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item.sha256
        assert chained[item.file] == item.sha256
        assert (listed[item.file]["sha256"], listed[item.file]["kind"]) == (item.sha256, item.kind)
        assert listed[item.file]["step"] == item.step
    flow = FLOWS[detail.session.flow]
    for event in detail.events:
        if event.event == "abort":
            continue
        step = flow.step(event.source)
        kept = {item.kind: item for item in detail.evidence if item.step == step.name}
        refs = event.context["evidence"].get(step.name, {}) if step.evidence else {}
        for kind in step.evidence:
            assert kind in kept, (step.name, kind)
            # The context refers to the file by name and hash (all of them, for documents).
            assert f"{kept[kind].file}#{kept[kind].sha256}" in refs[kind]
        if step.tts is not None:
            assert "tts_played" in kept, step.name
    return manifest


def assert_announced(detail: SessionDetail, folder: Path, step: str) -> None:
    """The announcement's speech is in the agent's audio track while it played."""
    item = next(e for e in detail.evidence if e.kind == "tts_played" and e.step == step)
    assert item.file is not None
    played = json.loads((folder / item.file).read_text("utf-8"))
    start, end = played["start_ms"] / 1000, played["end_ms"] / 1000
    assert end - start > 1.0 and played["text_sha256"]
    audio = read_audio(sorted(folder.glob("agent-audio-*.webm")))

    def tone_share(samples: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(samples)) ** 2
        freqs = np.fft.rfftfreq(len(samples), 1 / audio.sample_rate)
        band = (freqs > AGENT_LOOK.tone_hz - 20) & (freqs < AGENT_LOOK.tone_hz + 20)
        return float(spectrum[band].sum() / spectrum.sum())

    during = audio.between(start + 0.2, end - 0.2)
    before = audio.between(max(0.0, start - 1.2), start - 0.2)
    assert float(np.sqrt(np.mean(during**2))) > 0.01  # speech, not silence
    assert tone_share(during) < 0.2 < 0.8 < tone_share(before)


def assert_id_photo_shows_the_kiosk(detail: SessionDetail, folder: Path) -> None:
    item = next(e for e in detail.evidence if e.kind == "id_photo")
    assert item.file is not None and item.file.endswith(".jpg")
    image = cv2.imread(str(folder / item.file))
    assert image is not None and image.shape[:2] == (480, 640)
    blue, green, red = (int(c) for c in image.reshape(-1, 3).mean(axis=0))
    assert closest_look(rgb_to_yuv((red, green, blue)), [KIOSK_LOOK, AGENT_LOOK]) is KIOSK_LOOK


def noise_png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".png", pixels)[1].tobytes()


BAD_SIGNATURES = [
    ("data:image/jpeg;base64,/9j/4AAQ", "must be a PNG data URL"),
    ("data:image/png;base64,@@@@", "not valid base64"),
    (png_data_url(b"hello, world"), "not a PNG image"),
    (png_data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * 64), "cannot be decoded"),
    (png_data_url(cv2.imencode(".png", np.full((200, 600), 255, np.uint8))[1].tobytes()), "blank"),
    (png_data_url(noise_png(300, 200)), "over the limit"),
    (png_data_url(draw_signature()), "not taken in this step"),
]


async def send_bad_evidence(kiosk: Kiosk) -> None:
    """Evidence the server must refuse, sent from the customer's own kiosk mid-call."""
    while min(kiosk.client.received_frames.values()) == 0:
        await asyncio.sleep(0.01)
    # Before the signature step: a signature is not taken, nor evidence for another step.
    await kiosk.client.send(EvidenceMessage(kind="signature_image", value=BAD_SIGNATURES[-1][0]))
    await kiosk.client.send(EvidenceMessage(kind="consent", value=True, step="no_such_step"))
    # In it, before the kiosk's own (good) signature: each bad one is refused.
    while not any(getattr(m, "state", None) == "signature" for m in kiosk.client.history):
        await asyncio.sleep(0.01)
    for value, _ in BAD_SIGNATURES[:-1]:
        await kiosk.client.send(EvidenceMessage(kind="signature_image", value=value))


@pytest.mark.parametrize("service", sorted(PATHS))
async def test_each_flow_runs_to_its_end(server: RunningServer, service: str) -> None:
    during = send_bad_evidence if service == "card_opening" else None
    run = await run_flow(server, service, during=during)
    # With no assessment on record the agent's try of "assessment_valid" is refused.
    refused = [e.message for e in run.agent.refusals]
    if service == "wealth_purchase":
        [refusal] = refused
        assert "no risk assessment on record" in refusal
    else:
        assert refused == []
    detail, folder = await finished(server, run.session_id)
    assert (str(detail.session.status), detail.session.workflow_state) == ("ended", LAST[service])
    assert [e.event for e in detail.events] == PATHS[service]
    assert run.kiosk.steps[-1] == LAST[service]
    # The stored context is the last event's, and it holds the facts the agent entered.
    context = detail.session.workflow_context
    assert context == detail.events[-1].context
    assert context["id_number"] == mask_id(str(CUSTOMER["id_number"])) and context["name"] == "张伟"
    opened = await server.db.workflow_context(run.session_id)
    assert opened["id_number"] == CUSTOMER["id_number"]
    manifest = check_evidence(detail, folder)
    assert manifest["part"] == 1 and len(manifest["evidence"]) == len(detail.evidence)
    report = await asyncio.to_thread(
        verify_recording, folder, server.centre.signing_key.public_key()
    )
    assert report.ok, report.problems
    assert_id_photo_shows_the_kiosk(detail, folder)
    signatures = [e for e in detail.evidence if e.kind == "signature_image"]
    for item in signatures:
        assert item.file is not None
        pad = cv2.imread(str(folder / item.file), cv2.IMREAD_GRAYSCALE)
        assert pad is not None and pad.shape == (200, 600) and (pad < 128).mean() > 0.01
    if service == "card_opening":
        # Each bad piece of evidence was answered with an error naming the problem, while
        # the call went on to the end.
        errors = [(e.code, e.message) for e in run.kiosk.errors]
        for _, problem in BAD_SIGNATURES:
            assert any(code == "bad_evidence" and problem in m for code, m in errors), problem
        assert (
            "out_of_order",
            'cannot handle "evidence" in state "step identity_check (the evidence is for '
            'no_such_step)"',
        ) in errors
        assert len(signatures) == 1
    if service in ("risk_assessment", "wealth_purchase"):
        assert context["risk_level"] == "C4"
        assert context["assessment_date"] == datetime.now(UTC).date().isoformat()
        assert any(e.kind == "questionnaire_answers" for e in detail.evidence)
    if service == "wealth_purchase":
        assert context["suitability"]["suitable"] is True
        assert_announced(detail, folder, "risk_disclosure")
    if service == "loan_review":
        assert_announced(detail, folder, "terms_disclosure")


async def test_unsuitable_product_is_refused_after_the_expired_assessment(
    server: RunningServer,
) -> None:
    """An expired assessment forces the questionnaire; a product above the level is refused."""
    expired_on = (date.today() - timedelta(days=400)).isoformat()
    script = script_for(
        "wealth_purchase",
        assessment={"risk_level": "C5", "assessment_date": expired_on},
        product={**PRODUCT, "product_risk": "R3"},
    )
    run = await run_flow(server, "wealth_purchase", script=script, answers=CAUTIOUS_ANSWERS)
    detail, folder = await finished(server, run.session_id)
    assert [e.event for e in detail.events] == [
        "identity_verified",
        "consent_given",
        "assessment_needed",
        "finance_answered",
        "questionnaire_completed",
        "result_confirmed",
        "product_refused",
    ]
    assert detail.session.workflow_state == "refused"
    # The agent tried the valid assessment and the sale; the server refused both, by guard.
    refusals = [e.message for e in run.agent.refusals]
    assert len(refusals) == 2 and all(e.code == "step_refused" for e in run.agent.refusals)
    assert 'step "assessment_check"' in refusals[0] and "expired" in refusals[0]
    assert 'step "product_selection"' in refusals[1]
    assert "a C1 customer may not buy an R3 product" in refusals[1]
    # The refusal is recorded: the suitability decision is in the stored context.
    context = detail.events[-1].context
    assert context["risk_level"] == "C1"
    assert context["suitability"] == {
        "risk_level": "C1",
        "product_code": PRODUCT["product_code"],
        "product_risk": "R3",
        "suitable": False,
        "decided_on": date.today().isoformat(),
    }
    check_evidence(detail, folder)


async def test_a_bad_id_number_is_refused_naming_the_step(server: RunningServer) -> None:
    number = str(CUSTOMER["id_number"])
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    script = script_for("card_opening", customer={**CUSTOMER, "id_number": wrong})
    run = await run_flow(server, "card_opening", script=script)
    [refusal] = run.agent.refusals
    assert refusal.code == "step_refused" and refusal.ref == "workflow_event"
    assert 'in step "identity_check"' in refusal.message
    assert 'guard "id_number_valid" failed' in refusal.message
    assert "wrong check digit" in refusal.message and wrong not in refusal.message
    detail, _ = await finished(server, run.session_id)
    [abort] = detail.events
    assert (abort.source, abort.event, abort.target) == ("identity_check", "abort", "aborted")
    assert abort.reason and "identity_check" in abort.reason
    # A refused event keeps nothing: no photo was stored for it.
    assert detail.evidence == ()


async def test_no_completion_without_a_signature(server: RunningServer) -> None:
    run = await run_flow(
        server,
        "card_opening",
        withhold=frozenset({"signature_image"}),
        evidence_timeout_s=1.0,
    )
    [refusal] = run.agent.refusals
    assert 'in step "signature"' in refusal.message
    assert "missing evidence: signature_image" in refusal.message
    detail, _ = await finished(server, run.session_id)
    assert [e.event for e in detail.events][-2:] == ["customer_confirmed", "abort"]
    assert detail.session.workflow_state == "aborted"
    assert not any(e.kind == "signature_image" for e in detail.evidence)


def test_a_signature_data_url_fits_in_one_message() -> None:
    from media.evidence import MAX_SIGNATURE_BYTES
    from signaling import MAX_MESSAGE_BYTES

    assert len(base64.b64encode(b"\0" * MAX_SIGNATURE_BYTES)) + 200 < MAX_MESSAGE_BYTES
