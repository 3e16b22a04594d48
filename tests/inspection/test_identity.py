"""The identity check on constructed parts: the call's face against the ID-photo still.

The parts open with the identity check in which the server keeps the still: of the
customer (the astronaut, framed otherwise than in the call) or of another person (an LFW
face scikit-image ships). dlib's models come from the installed packages.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.constructed import Script, build, end_of
from inspection import Check, Verdict, inspect_folder
from inspection.identity import MODEL, IdentityLimits, customer_identity
from inspection.recording import read_part
from workflow import load_flows

KEY = Ed25519PrivateKey.generate()
FLOWS = load_flows()


def _identity(folder: Path) -> Check:
    report = inspect_folder(folder, FLOWS["wealth_purchase"])
    return next(c for c in report.checks if c.name == "customer_identity")


@pytest.fixture(scope="module")
def same(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("same") / "part", KEY, Script(id_photo="same"))


def test_the_customer_on_the_id_photo_passes(same: Path) -> None:
    check = _identity(same)
    assert check.verdict is Verdict.PASS, check.detail
    assert check.score >= 0.8 and check.spans == ()
    assert check.measures["median_distance"] < check.measures["threshold"] == 0.6
    assert check.measures["pictures"] >= 10 and check.measures["still_faces"] == 1
    assert check.model == MODEL and "public domain" in check.model.licence


def test_someone_else_on_the_id_photo_fails_for_the_whole_call(tmp_path: Path) -> None:
    folder = build(tmp_path / "part", KEY, Script(id_photo="other"))
    check = _identity(folder)
    assert check.verdict is Verdict.FAIL, check.detail
    assert check.measures["median_distance"] >= IdentityLimits().other_from
    assert "someone else" in check.detail
    # The span covers the call from the first compared picture to its end.
    assert len(check.spans) == 1 and check.spans[0].start_ms < 2_000
    assert check.spans[0].end_ms >= end_of(Script(id_photo="other")) - 2_000


def test_the_customer_away_for_a_while_is_not_someone_else(tmp_path: Path) -> None:
    # Pictures without a face are not compared: the face checks report those.
    script = Script(id_photo="same", customer_away=[(12_000, 20_000)])
    check = _identity(build(tmp_path / "part", KEY, script))
    assert check.verdict is Verdict.PASS, check.detail


def test_without_the_id_photo_a_person_must_judge(tmp_path: Path) -> None:
    script = Script(id_photo="same", withhold=frozenset({"id_photo"}))
    folder = build(tmp_path / "part", KEY, script)
    report = inspect_folder(folder, FLOWS["wealth_purchase"])
    check = next(c for c in report.checks if c.name == "customer_identity")
    assert check.verdict is Verdict.NEEDS_REVIEW and check.detail == "no ID photo in the part"


def test_a_stricter_threshold_turns_the_same_face_to_review(same: Path) -> None:
    part = read_part(same, "identity_check")
    # No compared picture is this close: none matches, none is clearly someone else.
    strict = IdentityLimits(same_below=0.01, other_from=0.9)
    check = customer_identity(part, strict)
    assert check.verdict is Verdict.NEEDS_REVIEW and check.score == 0.0
    assert check.spans and check.measures["threshold"] == 0.01
