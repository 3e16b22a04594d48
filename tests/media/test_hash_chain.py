"""The hash chain and its log on disk (chain.jsonl): links, refusals, threads, crashes."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from pathlib import Path

import pytest

from common import CHAIN_FILE, MANIFEST_FILE
from media import ChainLog, HashChain, IntegrityError, check_integrity
from media.chain import ChainEntry, chain_seed
from media.errors import MediaError
from tests.media.signed_recording import (
    SEGMENTS,
    SESSION,
    flip,
    sha256,
)


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


def test_chain_entry_parse_refuses_malformed() -> None:
    good = ChainEntry(0, "a.webm", "ab" * 32, 1, "cd" * 32)
    assert ChainEntry.parse(json.loads(json.dumps(good.__dict__))) == good
    for bad in ({**good.__dict__, "index": True}, {**good.__dict__, "extra": 1}, [1]):
        with pytest.raises(IntegrityError):
            ChainEntry.parse(bad)
