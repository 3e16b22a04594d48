"""``dualrec backup`` and ``dualrec restore`` as an operator runs them.

A real double-recorded session (``dualrec demo``) is backed up, the original data folder is
moved away, the backup is restored into a new folder (and, for PostgreSQL, a new database),
and there ``dualrec verify`` accepts the recording as signed by the same key, and the
session is in the restored database with its files and workflow events.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from yarl import URL

from storage import Database, SessionDetail
from tests.e2e.test_durable_sign_ins import on_server
from tests.storage.conftest import DEFAULT_POSTGRES_URL


def dualrec(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dualrec ARGS`` in an empty working directory."""
    with tempfile.TemporaryDirectory(prefix="dualrec-cwd-") as cwd:
        result = subprocess.run(
            [sys.executable, "-m", "dualrec", *args],
            capture_output=True,
            text=True,
            timeout=120,
            input="",
            cwd=cwd,
        )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def run_demo(data_dir: Path, *database: str) -> dict[str, Any]:
    """One complete recorded session in ``data_dir``; its ``--json`` summary."""
    result = dualrec(
        "demo", "--json", "--data-dir", str(data_dir), "--step-seconds", "0.5", *database
    )
    summary: dict[str, Any] = json.loads(result.stdout)
    assert summary["verified"] is True
    return summary


async def stored_session(url: str, session_id: str) -> SessionDetail:
    async with Database(url) as db:
        return await db.get_session(session_id)


def check_restored(
    summary: dict[str, Any], restored: Path, detail: SessionDetail, *database: str
) -> None:
    """The restored folder verifies the session's recording with the original's key, and
    the restored database's access log is intact."""
    verified = dualrec("verify", summary["session_id"], "--data-dir", str(restored), check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    key = dualrec("keys", "export", "--data-dir", str(restored)).stderr.split("key id ")[1].strip()
    assert f"signed by key {key}" in verified.stdout
    assert f"trusting key {key} from {restored}" in verified.stderr
    assert detail.session.id == summary["session_id"]
    assert detail.session.status.value == "ended"
    assert len(detail.files) == len([f for f in summary["files"] if f.endswith(".webm")])
    assert [event.target for event in detail.events][-1] == summary["workflow"][-1]["to"]
    log = dualrec("verify-log", "--data-dir", str(restored), *database)
    assert log.stdout.startswith("access log intact")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_sqlite_backup_restores_into_a_new_folder(tmp_path: Path) -> None:
    original = tmp_path / "var"
    summary = run_demo(original)
    archive = tmp_path / "backups" / "dualrec.tar"
    archive.parent.mkdir()
    made = dualrec("backup", str(archive), "--data-dir", str(original))
    assert "database      sqlite" in made.stdout
    assert mode(archive) == 0o600  # it holds the signing and personal-data keys
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"backup.toml", "database/dualrec.db", "dualrec-data.toml", "dualrec.toml"} <= names
    assert {"keys/recording-signing-key.pem", "keys/personal-data.key"} <= names
    assert "recordings/.space-reserve" not in names
    keys = {p.name: p.read_bytes() for p in (original / "keys").iterdir()}
    original.rename(tmp_path / "gone")  # nothing of the original may be needed

    restored = tmp_path / "restored"
    said = dualrec("restore", str(archive), "--data-dir", str(restored))
    assert f"SQLite file {restored.resolve()}" in said.stdout
    assert {p.name: p.read_bytes() for p in (restored / "keys").iterdir()} == keys
    assert mode(restored / "keys" / "personal-data.key") == 0o600
    url = f"sqlite:///{restored / 'dualrec.db'}"
    check_restored(summary, restored, await stored_session(url, summary["session_id"]))

    again = dualrec("restore", str(archive), "--data-dir", str(restored), check=False)
    assert again.returncode == 2 and "is not empty: restore into a new data folder" in again.stderr
    into_pg = dualrec(
        "restore", str(archive), "--data-dir", str(tmp_path / "r2"),
        "--database-url", "postgresql://nobody@127.0.0.1/none", check=False,
    )  # fmt: skip
    assert into_pg.returncode == 2 and "holds a sqlite database" in into_pg.stderr


def test_backup_without_recordings_and_of_a_folder_that_is_not_one(tmp_path: Path) -> None:
    missing = dualrec(
        "backup", str(tmp_path / "b.tar"), "--data-dir", str(tmp_path / "x"), check=False
    )
    assert missing.returncode == 2 and "is not a dualrec data folder" in missing.stderr
    assert not (tmp_path / "b.tar").exists()
    dualrec("init", "--data-dir", str(tmp_path / "var"))
    made = dualrec(
        "backup", str(tmp_path / "b.tar"), "--data-dir", str(tmp_path / "var"), "--no-recordings"
    )
    assert "recordings    left out" in made.stdout
    twice = dualrec(
        "backup", str(tmp_path / "b.tar"), "--data-dir", str(tmp_path / "var"), check=False
    )
    assert twice.returncode == 2 and "never overwrites" in twice.stderr
    nowhere = dualrec(
        "backup", str(tmp_path / "no" / "b.tar"), "--data-dir", str(tmp_path / "var"), check=False
    )
    assert nowhere.returncode == 2 and "no folder" in nowhere.stderr
    said = dualrec("restore", str(tmp_path / "b.tar"), "--data-dir", str(tmp_path / "new"))
    assert "recordings    not in this backup" in said.stdout


@pytest.fixture
async def postgres_databases() -> AsyncIterator[tuple[str, str]]:
    """Two new PostgreSQL databases: the original and the one restored into."""
    server_url = os.environ.get("DUALREC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    names = [f"test_backup_{uuid.uuid4().hex}" for _ in range(2)]
    try:
        await on_server(server_url, f'CREATE DATABASE "{names[0]}"')
    except (OSError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        if os.environ.get("DUALREC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    await on_server(server_url, f'CREATE DATABASE "{names[1]}"')
    try:
        original, target = (str(URL(server_url).with_path(f"/{name}")) for name in names)
        yield original, target
    finally:
        for name in names:
            await on_server(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.postgres
async def test_postgres_backup_restores_into_a_new_database(
    tmp_path: Path, postgres_databases: tuple[str, str]
) -> None:
    original_url, target_url = postgres_databases
    original = tmp_path / "var"
    summary = run_demo(original, "--database-url", original_url)
    archive = tmp_path / "dualrec.tar"
    made = dualrec(
        "backup", str(archive), "--data-dir", str(original), "--database-url", original_url
    )
    assert "database      postgresql" in made.stdout and mode(archive) == 0o600
    with tarfile.open(archive) as tar:
        assert "database/dualrec.pgdump" in tar.getnames()
    original.rename(tmp_path / "gone")

    restored = tmp_path / "restored"
    dualrec("restore", str(archive), "--data-dir", str(restored), "--database-url", target_url)
    assert not (restored / "dualrec.db").exists()
    detail = await stored_session(target_url, summary["session_id"])
    check_restored(summary, restored, detail, "--database-url", target_url)

    # The target must be empty: a second restore into it stops at the first clash.
    again = dualrec(
        "restore", str(archive), "--data-dir", str(tmp_path / "r2"), "--database-url", target_url,
        check=False,
    )  # fmt: skip
    assert again.returncode == 2 and "may be partly restored" in again.stderr
