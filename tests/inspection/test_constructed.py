"""Each check on constructed recordings: one that must pass, one that must fail each check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.constructed import Script, build
from common import MANIFEST_FILE
from inspection import (
    REPORT_FILE,
    Check,
    InspectionReport,
    NotInspectable,
    Verdict,
    inspect_folder_once,
)
from media.verify import verify_recording
from workflow import load_flows

BAD = Script(
    customer_away=[(8_000, 16_000)],
    second_face=[(18_000, 23_000)],
    kiosk_black=[(29_000, 32_000)],
    disclosure_wpm=450,
    customer_speaks=False,
    blank_signature=True,
    withhold=frozenset({"tick_confirmation"}),
)

KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A part in which everything an inspector asks for happens."""
    return build(tmp_path_factory.mktemp("good") / "part", KEY, Script())


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A part in which every check has something to find."""
    return build(tmp_path_factory.mktemp("bad") / "part", KEY, BAD)


def _check(report: InspectionReport, step: str | None, name: str) -> Check:
    checks = (
        report.checks if step is None else next(s for s in report.steps if s.name == step).checks
    )
    return next(c for c in checks if c.name == name)


def test_a_good_part_passes_every_check(good: Path) -> None:
    report = inspect_folder_once(good, load_flows(), KEY, None).report
    flagged = [
        (step.name, c.name, c.detail)
        for step in report.steps
        for c in step.checks
        if c.verdict is not Verdict.PASS
    ]
    assert flagged == [] and report.verdict is Verdict.PASS
    assert [s.name for s in report.steps] == [
        "risk_disclosure",
        "cooling_off",
        "signature",
        "purchase_confirmed",
    ]
    names = {c.name for c in report.all_checks()}
    assert names >= {
        "customer_face",
        "agent_face",
        "second_face",
        "customer_left_picture",
        "kiosk_picture",
        "agent_picture",
        "kiosk_audio",
        "agent_audio",
        "silence",
        "disclosure_read",
        "evidence",
        "evidence_order",
        "signature",
    }
    assert "customer_identity" not in names  # the part has no identity step to judge
    assert report.score == 100.0
    face = _check(report, "risk_disclosure", "customer_face")
    assert face.model.name.startswith("opencv-haar") and face.model.version.startswith("4.")


def test_a_bad_part_fails_each_check_where_it_happened(bad: Path) -> None:
    report = inspect_folder_once(bad, load_flows(), KEY, None).report
    assert report.verdict is Verdict.FAIL and report.score <= 59
    left = _check(report, "risk_disclosure", "customer_left_picture")
    assert left.verdict is Verdict.FAIL
    assert [(round(s.start_ms, -3), round(s.end_ms, -3)) for s in left.spans] == [(8000, 16000)]
    second = _check(report, "risk_disclosure", "second_face")
    assert second.verdict is Verdict.FAIL
    assert [(round(s.start_ms, -3), round(s.end_ms, -3)) for s in second.spans] == [(18000, 23000)]
    # The disclosure in the key step: the face check is strict there.
    assert _check(report, "risk_disclosure", "customer_face").verdict is Verdict.FAIL
    read = _check(report, "risk_disclosure", "disclosure_read")
    assert read.verdict is Verdict.FAIL and read.measures["rate_per_min"] > 240
    black = _check(report, "cooling_off", "kiosk_picture")
    assert black.verdict is Verdict.FAIL and "black" in black.detail
    assert _check(report, "cooling_off", "agent_picture").verdict is Verdict.PASS
    assert _check(report, None, "kiosk_audio").verdict is Verdict.FAIL
    assert _check(report, None, "agent_audio").verdict is Verdict.PASS
    evidence = _check(report, "cooling_off", "evidence")
    assert evidence.verdict is Verdict.FAIL and "missing tick_confirmation" in evidence.detail
    signature = _check(report, "signature", "signature")
    assert signature.verdict is Verdict.FAIL and "blank" in signature.detail
    assert set(report.failed()) >= {
        "customer_left_picture",
        "second_face",
        "disclosure_read",
        "kiosk_picture",
        "kiosk_audio",
        "evidence",
        "signature",
    }


def test_the_report_is_chained_signed_and_verified(good: Path) -> None:
    done = inspect_folder_once(good, load_flows(), KEY, None)
    manifest = json.loads((good / MANIFEST_FILE).read_text("utf-8"))
    assert manifest["inspection"]["file"] == REPORT_FILE
    assert manifest["inspection"]["verdict"] == done.report.verdict.value
    assert manifest["chain"]["entries"][-1]["file"] == REPORT_FILE
    report = verify_recording(good, KEY.public_key())
    assert report.ok, report.problems
    # Shown, not made again: one report, chained once.
    again = inspect_folder_once(good, load_flows(), KEY, None)
    assert not again.made and again.report == done.report
    files = [e["file"] for e in json.loads((good / MANIFEST_FILE).read_text())["chain"]["entries"]]
    assert files.count(REPORT_FILE) == 1


def test_an_altered_report_is_found_by_verify(tmp_path: Path) -> None:
    folder = build(tmp_path / "part", KEY, Script(customer_away=[(0, 37_000)]))
    inspect_folder_once(folder, load_flows(), KEY, None)
    report = json.loads((folder / REPORT_FILE).read_text("utf-8"))
    report["verdict"] = "pass"
    (folder / REPORT_FILE).write_text(json.dumps(report), "utf-8")
    problems = verify_recording(folder, KEY.public_key()).problems
    assert any(REPORT_FILE in p and "altered" in p for p in problems), problems


def test_an_altered_part_is_not_inspected(tmp_path: Path) -> None:
    folder = build(tmp_path / "part", KEY, Script())
    segment = folder / "kiosk-audio-0000.webm"
    data = bytearray(segment.read_bytes())
    data[-10] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(NotInspectable, match="does not verify"):
        inspect_folder_once(folder, load_flows(), KEY, None)
    assert not (folder / REPORT_FILE).exists()
