"""Tamper evidence on real files with real Ed25519 keys: what changed is named precisely."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from media.errors import MediaError
from media.integrity import (
    CHAIN_FILE,
    MANIFEST_FILE,
    ChainEntry,
    ChainLog,
    HashChain,
    IntegrityError,
    canonical_json,
    chain_seed,
    check_integrity,
    key_id,
    load_or_create_signing_key,
    load_public_key,
    public_key_pem,
    sign_manifest,
    write_signed_manifest,
)

SESSION = "4cf81fa934cc4409a3f374e0a44bf5cc"
#: Closing order interleaves the four tracks, as in a real call; one file spans two blocks.
SEGMENTS = [
    ("kiosk-video-0000.webm", 1_500_000),
    ("kiosk-audio-0000.webm", 4_000),
    ("agent-video-0000.webm", 9_000),
    ("agent-audio-0000.webm", 3_000),
    ("kiosk-video-0001.webm", 7_000),
]
FLIPPED = "kiosk-video-0001.webm"


@dataclass
class Recording:
    """A closed session's folder: segments, chain.jsonl and a signed manifest.json."""

    folder: Path
    key: Ed25519PrivateKey
    key_path: Path

    def manifest(self) -> dict[str, Any]:
        """The manifest as stored."""
        data: dict[str, Any] = json.loads((self.folder / MANIFEST_FILE).read_text("utf-8"))
        return data

    def store(self, manifest: dict[str, Any]) -> None:
        """Overwrite manifest.json as an editor would (no re-signing)."""
        (self.folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), "utf-8")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def flip(path: Path, offset: int) -> None:
    """Invert one byte of a file in place."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def base_manifest(chain: HashChain) -> dict[str, Any]:
    """A manifest laid out as storage.manifest.session_manifest writes it."""
    return {
        "session_id": SESSION,
        "service": "card_opening",
        "flow": "card_opening",
        "branch": "上海分行 Pudong",
        "kiosk": "kiosk-1",
        "agent": "agent-7",
        "status": "ended",
        "started_at": "2024-05-01T09:00:00+00:00",
        "ended_at": "2024-05-01T09:05:00+00:00",
        "end_reason": "completed",
        "segments": [
            {
                "party": e.file.split("-")[0],
                "kind": e.file.split("-")[1],
                "seq": int(e.file[-9:-5]),
                "file": e.file,
                "codec": "vp8",
                "bytes": e.bytes,
                "sha256": e.sha256,
                "frames": 30,
                "start_ms": 0,
                "end_ms": 10_000,
            }
            for e in chain.entries
        ],
        "workflow": [{"seq": 1, "event": "consent_given", "from": "consent", "to": "terms"}],
    }


@pytest.fixture
def recording(tmp_path: Path) -> Recording:
    """Real files, a chain logged as they close, a manifest signed with a real key."""
    folder = tmp_path / "recordings" / SESSION
    rng = random.Random(7)
    log = ChainLog(folder, SESSION)
    for name, size in SEGMENTS:
        data = rng.randbytes(size)
        (folder / name).write_bytes(data)
        log.add(name, sha256(data), size)
    log.close()
    key_path = tmp_path / "keys" / "signing.pem"
    key = load_or_create_signing_key(key_path)
    write_signed_manifest(folder, sign_manifest(base_manifest(log.chain), log.chain, key))
    return Recording(folder, key, key_path)


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


def test_chain_links_follow_the_definition() -> None:
    chain = HashChain(SESSION)
    assert chain.head == chain_seed(SESSION) == sha256(SESSION.encode())
    first = chain.add("kiosk-audio-0000.webm", "AB" * 32, 10)
    second = chain.add("kiosk-video-0000.webm", "cd" * 32, 20)
    payload = b'{"bytes":10,"file":"kiosk-audio-0000.webm","index":0,"sha256":"' + b"ab" * 32
    expected = hashlib.sha256(hashlib.sha256(SESSION.encode()).digest() + payload + b'"}')
    assert first.link == expected.hexdigest()
    assert second.index == 1 and chain.head == second.link
    assert chain.entries == (first, second)
    other = HashChain("another-session")
    other.add("kiosk-audio-0000.webm", "ab" * 32, 10)
    assert other.head != first.link


@pytest.mark.parametrize(
    ("file", "digest", "size"),
    [
        ("kiosk-audio-0000.webm", "ab" * 32, 10),  # already chained
        ("../escape.webm", "ab" * 32, 10),
        ("sub/dir.webm", "ab" * 32, 10),
        (".hidden.webm", "ab" * 32, 10),
        ("kiosk-audio-0001.webm", "not hex", 10),
        ("kiosk-audio-0001.webm", "ab" * 32, -1),
    ],
)
def test_chain_refuses_bad_or_repeated_segments(file: str, digest: str, size: int) -> None:
    chain = HashChain(SESSION)
    chain.add("kiosk-audio-0000.webm", "ab" * 32, 10)
    with pytest.raises(IntegrityError):
        chain.add(file, digest, size)
    assert len(chain.entries) == 1
    assert issubclass(IntegrityError, MediaError)


def test_chain_log_is_on_disk_after_each_add(tmp_path: Path) -> None:
    log = ChainLog(tmp_path / "s", SESSION)
    for n in range(3):
        entry = log.add(f"agent-audio-{n:04d}.webm", sha256(bytes([n])), n)
        loaded = ChainLog.load(log.path)
        assert loaded.session_id == SESSION and loaded.problems == []
        assert loaded.entries[-1] == entry and len(loaded.entries) == n + 1
    log.close()
    with pytest.raises(IntegrityError, match="exists already"):
        ChainLog(tmp_path / "s", SESSION)


def test_chain_log_from_several_threads(tmp_path: Path) -> None:
    log = ChainLog(tmp_path, SESSION)

    def close_segments(party: str) -> None:
        for n in range(5):
            log.add(f"{party}-video-{n:04d}.webm", "00" * 32, n)

    threads = [threading.Thread(target=close_segments, args=(p,)) for p in ("kiosk", "agent")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    assert ChainLog.load(log.path).entries == list(log.chain.entries)
    assert [e.index for e in log.chain.entries] == list(range(10))


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


def test_crash_leaves_a_torn_chain_line(tmp_path: Path) -> None:
    folder = tmp_path / SESSION
    log = ChainLog(folder, SESSION)
    for name, size in SEGMENTS[1:4]:
        data = random.Random(name).randbytes(size)
        (folder / name).write_bytes(data)
        log.add(name, sha256(data), size)
    # The server died while writing the fourth entry; that segment was open on disk.
    (folder / "kiosk-video-0001.webm").write_bytes(b"\x1a\x45\xdf\xa3 partial")
    with (folder / CHAIN_FILE).open("ab") as f:
        f.write(b'{"bytes":7000,"file":"kiosk-vi')
    loaded = ChainLog.load(folder / CHAIN_FILE)
    assert loaded.entries == list(log.chain.entries)
    assert loaded.problems == [f"{CHAIN_FILE}: torn last line 5 ignored"]
    report = check_integrity(folder)
    assert report.problems == [
        f"unsigned: session not closed (no {MANIFEST_FILE})",
        f"{CHAIN_FILE}: torn last line 5 ignored",
        "added: kiosk-video-0001.webm (not chained: open when the recording stopped?)",
    ]
    assert report.segments_checked == 3 and report.session_id == SESSION
    assert not report.ok and not report.signed


def test_unclosed_session_still_checks_its_files(tmp_path: Path) -> None:
    folder = tmp_path / SESSION
    log = ChainLog(folder, SESSION)
    (folder / "agent-audio-0000.webm").write_bytes(b"audio")
    log.add("agent-audio-0000.webm", sha256(b"audio"), 5)
    flip(folder / "agent-audio-0000.webm", 2)
    assert check_integrity(folder).problems == [
        f"unsigned: session not closed (no {MANIFEST_FILE})",
        "altered: agent-audio-0000.webm (SHA-256 differs)",
    ]


def test_nothing_to_check(tmp_path: Path) -> None:
    assert check_integrity(tmp_path).problems[-1].startswith("no chain:")
    with pytest.raises(IntegrityError):
        check_integrity(tmp_path / "absent")


def test_signing_key_created_once_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "deep" / "signing.pem"
    key = load_or_create_signing_key(path)
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_signing_key(path)
    assert path.read_bytes() == pem
    assert public_key_pem(again) == public_key_pem(key) == public_key_pem(key.public_key())
    assert load_public_key(public_key_pem(key)).public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )
    assert len(key_id(key.public_key())) == 16
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]


def test_bad_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n")
    with pytest.raises(IntegrityError):
        load_or_create_signing_key(path)
    with pytest.raises(IntegrityError):
        load_public_key(b"garbage")


def test_sign_manifest_leaves_its_input_alone(tmp_path: Path) -> None:
    chain = HashChain(SESSION)
    manifest = base_manifest(chain)
    before = json.dumps(manifest)
    signed = sign_manifest(manifest, chain, Ed25519PrivateKey.generate())
    assert json.dumps(manifest) == before and "signature" in signed
    with pytest.raises(IntegrityError):
        sign_manifest(manifest, HashChain("another-session"), Ed25519PrivateKey.generate())


def test_chain_entry_parse_refuses_malformed() -> None:
    good = ChainEntry(0, "a.webm", "ab" * 32, 1, "cd" * 32)
    assert ChainEntry.parse(json.loads(json.dumps(good.__dict__))) == good
    for bad in ({**good.__dict__, "index": True}, {**good.__dict__, "extra": 1}, [1]):
        with pytest.raises(IntegrityError):
            ChainEntry.parse(bad)
