"""Tamper evidence on real files with real Ed25519 keys: what changed is named precisely."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import CHAIN_FILE, MANIFEST_FILE
from media import (
    HashChain,
    check_integrity,
    key_id,
    load_public_key,
    sign_manifest,
    write_signed_manifest,
)
from media.chain import canonical_json
from tests.media.signed_recording import (
    FLIPPED,
    SEGMENTS,
    SESSION,
    Recording,
    flip,
    make_recording,
    sha256,
)


@pytest.fixture
def recording(tmp_path: Path) -> Recording:
    """A closed, signed session folder (see tests.media.signed_recording)."""
    return make_recording(tmp_path)


def test_untouched_recording_is_ok(recording: Recording) -> None:
    report = check_integrity(recording.folder, trusted_public_key=recording.key.public_key())
    assert report.problems == []
    assert report.ok and report.signed
    assert report.key_id == key_id(recording.key.public_key())
    assert report.session_id == SESSION
    assert report.segments_checked == len(SEGMENTS)
    assert sorted(p.name for p in recording.folder.iterdir() if p.name.startswith(".")) == []


def test_signed_manifest_layout(recording: Recording) -> None:
    manifest = recording.manifest()
    assert manifest["branch"] == "上海分行 Pudong"
    assert [e["file"] for e in manifest["chain"]["entries"]] == [n for n, _ in SEGMENTS]
    assert manifest["chain"]["head"] == manifest["chain"]["entries"][-1]["link"]
    signature = manifest.pop("signature")
    assert signature["algorithm"] == "Ed25519"
    assert signature["key_id"] == key_id(recording.key.public_key())
    public = load_public_key(signature["public_key"].encode())
    public.verify(base64.b64decode(signature["value"]), canonical_json(manifest))


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_one_byte_anywhere_in_a_segment(recording: Recording, where: str) -> None:
    path = recording.folder / FLIPPED
    size = path.stat().st_size
    flip(path, {"start": 0, "middle": size // 2, "end": size - 1}[where])
    report = check_integrity(recording.folder)
    assert report.problems == [f"altered: {FLIPPED} (SHA-256 differs)"]
    assert not report.ok and report.signed


def test_one_byte_in_the_manifest(recording: Recording) -> None:
    path = recording.folder / MANIFEST_FILE
    flip(path, path.stat().st_size // 2)
    report = check_integrity(recording.folder)
    assert not report.ok and not report.signed
    assert report.problems[0].startswith(("manifest unreadable", "signature invalid"))
    # The files are still checked, against chain.jsonl.
    assert report.segments_checked == len(SEGMENTS)


def test_truncated_segment(recording: Recording) -> None:
    path = recording.folder / FLIPPED
    path.write_bytes(path.read_bytes()[:-10])
    report = check_integrity(recording.folder)
    assert report.problems == [f"altered: {FLIPPED} (6990 bytes, chained 7000)"]


def test_deleted_segment(recording: Recording) -> None:
    (recording.folder / "agent-audio-0000.webm").unlink()
    report = check_integrity(recording.folder)
    assert report.problems == ["missing: agent-audio-0000.webm"]
    assert report.segments_checked == len(SEGMENTS) - 1


def test_added_segment(recording: Recording) -> None:
    (recording.folder / "kiosk-video-0002.webm").write_bytes(b"\x1a\x45\xdf\xa3 extra")
    report = check_integrity(recording.folder)
    assert report.problems == ["added: kiosk-video-0002.webm"]


def test_reordered_chain_entries(recording: Recording) -> None:
    manifest = recording.manifest()
    entries = manifest["chain"]["entries"]
    entries[1], entries[2] = entries[2], entries[1]
    recording.store(manifest)
    problems = check_integrity(recording.folder).problems
    assert "signature invalid: manifest changed after signing" in problems
    assert "re-ordered: agent-video-0000.webm (entry 2 found at 1)" in problems
    assert "re-ordered: kiosk-audio-0000.webm (entry 1 found at 2)" in problems
    assert f"{CHAIN_FILE} disagrees with the manifest from entry 1" in problems


def test_renumbered_chain_entries_break_the_links(recording: Recording) -> None:
    manifest = recording.manifest()
    entries = manifest["chain"]["entries"]
    entries[1], entries[2] = entries[2], entries[1]
    entries[1]["index"], entries[2]["index"] = 1, 2
    recording.store(manifest)
    problems = check_integrity(recording.folder).problems
    assert "chain broken: entry 1 (agent-video-0000.webm) does not match its link" in problems
    assert "chain broken: entry 2 (kiosk-audio-0000.webm) does not match its link" in problems


def test_manifest_field_edited(recording: Recording) -> None:
    manifest = recording.manifest()
    manifest["end_reason"] = "customer declined"
    recording.store(manifest)
    report = check_integrity(recording.folder)
    assert report.problems == ["signature invalid: manifest changed after signing"]
    assert not report.signed


def test_signature_removed(recording: Recording) -> None:
    manifest = recording.manifest()
    del manifest["signature"]
    recording.store(manifest)
    assert check_integrity(recording.folder).problems == [
        f"unsigned: {MANIFEST_FILE} holds no Ed25519 signature"
    ]


def test_other_trusted_key(recording: Recording) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    report = check_integrity(recording.folder, trusted_public_key=other)
    signer = key_id(recording.key.public_key())
    assert report.problems == [f"untrusted key: signed by {signer}, not by {key_id(other)}"]
    assert not report.ok and report.key_id == signer


def test_resigned_forgery_needs_the_trusted_key(recording: Recording) -> None:
    """A forger who replaces a file and re-signs with their own key passes only untrusted."""
    data = b"forged"
    (recording.folder / FLIPPED).write_bytes(data)
    chain = HashChain(SESSION)
    for entry in recording.manifest()["chain"]["entries"]:
        if entry["file"] == FLIPPED:
            entry.update(sha256=sha256(data), bytes=len(data))
        chain.add(entry["file"], entry["sha256"], entry["bytes"])
    forger = Ed25519PrivateKey.generate()
    write_signed_manifest(recording.folder, sign_manifest(recording.manifest(), chain, forger))
    (recording.folder / CHAIN_FILE).unlink()
    assert check_integrity(recording.folder).problems == []
    trusted = check_integrity(recording.folder, trusted_public_key=recording.key.public_key())
    assert not trusted.ok
    assert trusted.problems[0].startswith("untrusted key:")


def test_chain_log_disagrees_with_manifest(recording: Recording) -> None:
    path = recording.folder / CHAIN_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))
    report = check_integrity(recording.folder)
    assert report.problems == [f"{CHAIN_FILE} disagrees with the manifest from entry 4"]
