"""The ``dualrec`` command as a user runs it: demo, verify and credentials.

Every command runs in an empty working directory of its own: the default data folder is
``./var``, and a ``./var`` left by ``./dev demo`` in the checkout (another signing key, another
database) must not change what these tests see.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dualrec.demo import format_summary


def dualrec(
    *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dualrec ARGS`` in an empty working directory and capture its output."""
    with tempfile.TemporaryDirectory(prefix="dualrec-cwd-") as cwd:
        result = subprocess.run(
            [sys.executable, "-m", "dualrec", *args],
            capture_output=True,
            text=True,
            timeout=120,
            input=stdin if stdin is not None else "",
            cwd=cwd,
        )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``dualrec demo --json`` run shared by the tests of this module."""
    data_dir = tmp_path_factory.mktemp("demo") / "var"
    result = dualrec("demo", "--json", "--data-dir", str(data_dir), "--step-seconds", "1")
    data: dict[str, Any] = json.loads(result.stdout)
    data["data_dir"] = str(data_dir)
    data["stderr"] = result.stderr
    return data


def test_demo_runs_a_complete_session(demo: dict[str, Any]) -> None:
    assert demo["verified"] is True and demo["problems"] == []
    assert demo["status"] == "ended"
    assert set(demo["frames"]) == {"kiosk-audio", "kiosk-video", "agent-audio", "agent-video"}
    # 15 fps video and 50 audio frames a second over the call.
    assert demo["frames"]["kiosk-video"] >= 12 * demo["duration_s"]
    assert demo["frames"]["agent-audio"] >= 45 * demo["duration_s"]
    assert [s["to"] for s in demo["workflow"]] == [
        "consent",
        "terms_disclosure",
        "confirmation",
        "signature",
        "completed",
    ]
    assert all(Path(f).is_file() for f in demo["files"])
    # Progress went to stderr while it ran.
    assert "step completed" in demo["stderr"]


def test_demo_makes_a_data_folder_and_prints_a_command_that_works(demo: dict[str, Any]) -> None:
    # The folder is a data folder that dualrec serve accepts (see tests/cli/test_data_folder).
    assert (Path(demo["data_dir"]) / "dualrec-data.toml").is_file()
    # Its command to start the server runs as printed, wherever dualrec is installed.
    shown = subprocess.run(
        f"{demo['command']} serve --help", shell=True, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "--data-dir" in shown.stdout, shown.stderr


def test_demo_inspects_its_call_and_prints_the_verdicts(demo: dict[str, Any]) -> None:
    inspection = demo["inspection"]
    assert inspection is not None and Path(inspection["file"]).is_file()
    # The synthetic cameras show colours, not faces: the face checks fail, and say why.
    assert inspection["verdict"] == "fail" and "customer_face" in inspection["failed"]
    assert 0 <= inspection["score"] <= 59
    findings = [f for step in inspection["steps"] for f in step["findings"]]
    faces = [f for f in findings if f["check"] == "customer_face"]
    assert faces and all(f["note"] == "synthetic camera: no face to find" for f in faces)
    # What the call did do is not flagged: evidence, signature, both parties heard.
    assert not {f["check"] for f in findings} & {"evidence", "signature"}
    # Of the whole call, only the identity is flagged: the ID photo shows no face either.
    assert [(f["check"], f["note"]) for f in inspection["part"]] == [
        ("customer_identity", "synthetic camera: no face to compare")
    ]
    text = format_summary(demo)
    assert f"inspection   FAIL, score {inspection['score']:.0f}" in text
    assert "customer_face" in text and "(synthetic camera: no face to find)" in text
    assert inspection["file"] in text


def copy_recording(demo: dict[str, Any], tmp_path: Path) -> Path:
    source = Path(demo["recording_dir"])
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


def exported_key(data_dir: str) -> tuple[str, str]:
    """The public key PEM and key id of a data folder, as ``dualrec keys export`` prints them
    (the folder made first when it is not one yet)."""
    if not (Path(data_dir) / "dualrec-data.toml").exists():
        dualrec("init", "--data-dir", data_dir)
    exported = dualrec("keys", "export", "--data-dir", data_dir)
    return exported.stdout, exported.stderr.split("# key id ", 1)[1].strip()


def test_verify_accepts_the_demo_recording(demo: dict[str, Any]) -> None:
    key_file = Path(demo["data_dir"]) / "keys" / "recording-signing-key.pem"
    _, demo_key = exported_key(demo["data_dir"])
    result = dualrec("verify", demo["session_id"], "--data-dir", demo["data_dir"])
    assert "OK: complete and readable" in result.stdout
    assert f"signed by key {demo_key}" in result.stdout
    assert f"trusting key {demo_key} from {key_file}" in result.stderr
    for track in ("kiosk video", "kiosk audio", "agent video", "agent audio"):
        assert track in result.stdout
    by_folder = dualrec("verify", demo["recording_dir"], "--json", "--data-dir", demo["data_dir"])
    report = json.loads(by_folder.stdout)
    assert report["ok"] is True and report["signed_by"] == demo_key
    assert {t["codec"] for t in report["tracks"]} == {"vp8", "opus"}


def test_verify_says_when_no_key_is_trusted(demo: dict[str, Any], tmp_path: Path) -> None:
    keyless = tmp_path / "keyless"
    result = dualrec("verify", demo["recording_dir"], "--data-dir", str(keyless))
    assert "OK: complete and readable" in result.stdout
    no_key = keyless / "keys" / "recording-signing-key.pem"
    assert f"no key at {no_key}; the signature is checked against the manifest's own" in (
        result.stderr
    )


def test_verify_refuses_a_recording_signed_by_another_key(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    # What a ./var left by another demo amounts to: this server's key is not the signer's.
    _, demo_key = exported_key(demo["data_dir"])
    other_dir = str(tmp_path / "other")
    other_pem, other_key = exported_key(other_dir)
    assert other_key != demo_key
    result = dualrec("verify", demo["recording_dir"], "--data-dir", other_dir, check=False)
    assert result.returncode == 1, result.stdout
    assert f"untrusted key: signed by {demo_key}, not by {other_key}" in result.stdout
    assert f"trusting key {other_key} from {other_dir}" in result.stderr
    public_key = tmp_path / "other.pem"
    public_key.write_text(other_pem)
    given = dualrec("verify", demo["recording_dir"], "--public-key", str(public_key), check=False)
    assert given.returncode == 1, given.stdout
    assert f"untrusted key: signed by {demo_key}, not by {other_key}" in given.stdout
    assert f"trusting key {other_key} from {public_key}" in given.stderr


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[: len(data) // 2] = bytes(len(data) // 2)
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


DAMAGE: list[tuple[str, Callable[[Path], None], str]] = [
    ("truncated", _truncate, "truncated"),
    ("emptied", _empty, "no frame"),
    ("garbled", _garble, "altered"),
    ("deleted", Path.unlink, "missing"),
]


@pytest.mark.parametrize(("what", "damage", "expected"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_verify_fails_on_a_damaged_recording(
    demo: dict[str, Any],
    tmp_path: Path,
    what: str,
    damage: Callable[[Path], None],
    expected: str,
) -> None:
    folder = copy_recording(demo, tmp_path)
    segment = sorted(folder.glob("kiosk-video-*.webm"))[0]
    damage(segment)
    result = dualrec("verify", str(folder), "--data-dir", demo["data_dir"], check=False)
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout and segment.name in result.stdout


def test_verify_fails_on_a_missing_recording(tmp_path: Path) -> None:
    result = dualrec("verify", "no-such-session", "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "no recording at" in result.stdout


def test_credentials_are_printed_once_and_refused_twice(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "var")
    token = dualrec(
        "kiosks", "enroll", "SZ-003-K1", "--branch", "SZ-003", "--data-dir", data_dir
    ).stdout.strip()
    assert len(token) >= 40
    again = dualrec(
        "kiosks", "enroll", "SZ-003-K1", "--branch", "SZ-003", "--data-dir", data_dir, check=False
    )
    assert again.returncode == 1 and "SZ-003-K1" in again.stderr
    assert token not in again.stderr
    user = dualrec("users", "add", "li.wei", "--role", "auditor", "--data-dir", data_dir)
    assert user.stdout.strip() != token


def test_users_get_a_password_they_can_sign_in_with(tmp_path: Path) -> None:
    import asyncio

    from storage import Database

    data_dir = tmp_path / "var"
    args = ("users", "add", "wang.fang", "--role", "agent", "--data-dir", str(data_dir))
    dualrec(*args, "--password-stdin", stdin="a long enough secret\n")
    short = dualrec(
        "users", "add", "zhao", "--role", "agent", "--data-dir", str(data_dir),
        "--password-stdin", stdin="short\n", check=False,
    )  # fmt: skip
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    made_up = dualrec("users", "add", "sun", "--role", "auditor", "--data-dir", str(data_dir))
    password = made_up.stderr.rsplit(": ", 1)[1].strip()

    async def check() -> None:
        async with Database(f"sqlite:///{data_dir / 'dualrec.db'}") as db:
            agent = await db.check_password("wang.fang", "a long enough secret")
            assert agent is not None and str(agent.role) == "agent"
            assert await db.check_password("wang.fang", "a long enough secreT") is None
            assert await db.check_password("zhao", "short") is None
            auditor = await db.check_password("sun", password)
            assert auditor is not None and str(auditor.role) == "auditor"

    asyncio.run(check())


def test_serve_refuses_an_unknown_time_zone(tmp_path: Path) -> None:
    result = dualrec(
        "serve", "--timezone", "Mars/Olympus", "--data-dir", str(tmp_path), check=False
    )
    assert result.returncode == 2
    assert "unknown time zone 'Mars/Olympus'" in result.stderr


def test_verify_log_names_the_first_tampered_entry(tmp_path: Path) -> None:
    import asyncio
    import sqlite3

    from storage import Database, access_log

    data_dir = tmp_path / "var"
    data_dir.mkdir()

    async def write() -> None:
        async with Database(f"sqlite:///{data_dir / 'dualrec.db'}") as db:
            for i in range(3):
                await access_log.append(db, "li.wei", "auditor", "view", f"session-{i}")

    asyncio.run(write())
    result = dualrec("verify-log", "--data-dir", str(data_dir))
    assert "access log intact: 3 entries" in result.stdout
    with sqlite3.connect(data_dir / "dualrec.db") as connection:
        connection.execute("UPDATE access_log SET target = 'session-x' WHERE seq = 2")
    result = dualrec("verify-log", "--data-dir", str(data_dir), check=False)
    assert result.returncode == 1
    assert "BROKEN at entry 2" in result.stdout


def test_what_the_commands_write_is_private_to_their_user(tmp_path: Path) -> None:
    data = tmp_path / "var"
    dualrec("db", "upgrade", "--data-dir", str(data))
    dualrec("kiosks", "enroll", "K-PRIVATE", "--branch", "BJ-001", "--data-dir", str(data))
    # keys export makes no key: a folder without one is no data folder (exit 2), nothing made.
    refused = dualrec("keys", "export", "--data-dir", str(data), check=False)
    assert refused.returncode == 2, refused.stderr
    assert "is not a dualrec data folder (no signing key)" in refused.stderr
    assert not (data / "keys" / "recording-signing-key.pem").exists()
    dualrec("init", "--data-dir", str(data))
    dualrec("keys", "export", "--data-dir", str(data))
    written = [data, *data.rglob("*")]
    assert len(written) >= 4
    for path in written:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
