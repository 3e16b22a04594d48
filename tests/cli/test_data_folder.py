"""The data folder: ``dualrec serve`` and ``dualrec worker`` start only on one that
``dualrec init`` made (or ``serve --init``), and say how to make one; a mistyped
``--data-dir`` no longer gets an empty database and a new signing key."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from yarl import URL

from dualrec.datafolder import FORMAT, MARKER
from media import key_id, load_or_create_signing_key
from tests.cli.serving import dualrec, serving
from tests.e2e.test_durable_sign_ins import on_server
from tests.storage.conftest import DEFAULT_POSTGRES_URL
from tests.support import free_port

KEY = Path("keys") / "recording-signing-key.pem"


def test_serve_refuses_a_folder_that_is_not_a_data_folder(tmp_path: Path) -> None:
    mistyped = tmp_path / "srv" / "dualrc"
    result = dualrec("serve", "--data-dir", str(mistyped), "--port", str(free_port()))
    assert result.returncode == 2, result.stderr
    assert (
        f"dualrec: {mistyped} is not a dualrec data folder (no keys, no database): run "
        f"`dualrec init --data-dir {mistyped}` to create one, or start with --init"
    ) in result.stderr
    assert not (tmp_path / "srv").exists()  # nothing made
    # An empty folder that exists is no data folder either.
    mistyped.mkdir(parents=True)
    result = dualrec("serve", "--data-dir", str(mistyped), "--port", str(free_port()))
    assert result.returncode == 2 and "is not a dualrec data folder" in result.stderr
    assert list(mistyped.iterdir()) == []
    # Nor for a worker, which is told to use the nodes' folder.
    worker = dualrec("worker", "--redis-url", "redis://127.0.0.1:1/0", "--data-dir", str(mistyped))
    assert worker.returncode == 2 and "is not a dualrec data folder" in worker.stderr
    assert "--init" not in worker.stderr and list(mistyped.iterdir()) == []
    no_redis = dualrec("worker", "--data-dir", str(mistyped))
    assert no_redis.returncode == 2 and "--redis-url" in no_redis.stderr


def test_init_makes_a_data_folder_and_says_what_it_made(tmp_path: Path) -> None:
    data = tmp_path / "srv" / "dualrec"
    made = dualrec("init", "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    key = load_or_create_signing_key(data / KEY)
    lines = made.stdout.splitlines()
    assert lines[0] == f"data folder   {data} (made)"
    assert f"signing key   {data / KEY} (made; key id {key_id(key.public_key())})" in lines
    assert any(re.fullmatch(r"personal key  .*personal-data\.key \(made\)", x) for x in lines)
    assert any(re.fullmatch(r"database      SQLite .*-> \w+", line) for line in lines)
    assert f"marker        {data / MARKER} (format {FORMAT})" in lines
    assert (data / "dualrec.db").is_file() and (data / "recordings").is_dir()
    assert (data / MARKER).stat().st_mode & 0o077 == 0 and (data / KEY).stat().st_mode == 0o100600
    # Again: nothing is made anew, the key is the same.
    again = dualrec("init", "--data-dir", str(data))
    assert again.returncode == 0 and "(made" not in again.stdout and "marker" not in again.stdout
    assert f"(kept; key id {key_id(key.public_key())})" in again.stdout
    # serve starts on it without --init, with that key.
    port = free_port()
    with serving(port, "--data-dir", str(data), "--port", str(port), log=tmp_path / "serve.log"):
        pass
    assert load_or_create_signing_key(data / KEY).public_key() == key.public_key()


def test_serve_init_makes_the_folder_then_serves(tmp_path: Path) -> None:
    data, port = tmp_path / "var", free_port()
    with serving(port, "--data-dir", str(data), "--port", str(port), "--init", log=tmp_path / "a"):
        assert (data / MARKER).is_file() and (data / KEY).is_file()
    # DUALREC_INIT=1 does the same.
    other, port = tmp_path / "other", free_port()
    env = {"DUALREC_INIT": "1"}
    with serving(port, "--data-dir", str(other), "--port", str(port), env=env, log=tmp_path / "b"):
        assert (other / MARKER).is_file()


def test_a_folder_of_an_earlier_version_is_taken_and_marked(tmp_path: Path) -> None:
    data, port = tmp_path / "old", free_port()
    key = load_or_create_signing_key(data / KEY)  # what an earlier version left
    assert not (data / MARKER).exists()
    with serving(port, "--data-dir", str(data), "--port", str(port), log=tmp_path / "serve.log"):
        assert f"format = {FORMAT}" in (data / MARKER).read_text()
    assert load_or_create_signing_key(data / KEY).public_key() == key.public_key()


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert dualrec("init", "--data-dir", str(data)).returncode == 0
    (data / MARKER).write_text(f"format = {FORMAT + 1}\n")
    result = dualrec("serve", "--data-dir", str(data), "--port", str(free_port()))
    assert result.returncode == 2 and "newer than this dualrec's" in result.stderr


async def test_init_makes_the_schema_of_a_postgresql_database(tmp_path: Path) -> None:
    server = os.environ.get("DUALREC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"test_init_{uuid.uuid4().hex}"
    try:
        await on_server(server, f'CREATE DATABASE "{name}"')
    except (OSError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        if os.environ.get("DUALREC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = str(URL(server).with_path(f"/{name}"))
    try:
        data = tmp_path / "srv"
        made = dualrec("init", "--data-dir", str(data), "--database-url", url)
        assert made.returncode == 0, made.stderr
        upgraded = r"^database      database: database upgraded: empty -> \w+$"
        assert re.search(upgraded, made.stdout, re.MULTILINE), made.stdout
        assert not (data / "dualrec.db").exists() and (data / MARKER).is_file()
        again = dualrec("init", "--data-dir", str(data), "--database-url", url)
        assert "database upgraded" not in again.stdout, again.stdout
    finally:
        await on_server(server, f'DROP DATABASE "{name}" WITH (FORCE)')


def test_init_says_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    url = "postgresql://dualrec:pa55word@127.0.0.1:1/dualrec"
    result = dualrec("init", "--data-dir", str(tmp_path / "var"), "--database-url", url)
    assert result.returncode == 1 and "dualrec init: database unavailable" in result.stderr
    assert "pa55word" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path / "var" / MARKER).exists()
