"""The password policy (length and a blocklist of common passwords) wherever a password is
set, and account names unique across roles (issue 12).

``dualrec users add`` as a user runs it, the admin page on a real server, and the
database itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from storage import Conflict, Database, StorageError, access_log
from storage.passwords import MIN_PASSWORD_LENGTH, check_password_strength, common_passwords
from tests.cli.test_commands import dualrec
from tests.support import RunningServer

ADMIN_PASSWORD = "the admin password"
#: Long enough, but each is among the most common passwords (or no password at all).
WEAK = ("aaaaaaaaaaaa", "Password1234", "qwerty123456", "1qaz2wsx3edc", "woaini1314520")


def test_the_blocklist_ships_with_the_package() -> None:
    common = common_passwords()
    assert len(common) >= 100 and all(len(p) >= MIN_PASSWORD_LENGTH for p in common)
    for weak in (*WEAK, "aaaaaaaaaa", "PASSWORD 1234"):
        with pytest.raises(StorageError):
            check_password_strength(weak)
    check_password_strength("a long password 1")


def test_users_add_refuses_a_short_or_common_password(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "var")
    for n, password in enumerate(("aaaaaaaaaa", *WEAK)):
        refused = dualrec(
            "users", "add", f"user{n}", "--role", "agent", "--data-dir", data_dir,
            "--password-stdin", stdin=f"{password}\n", check=False,
        )  # fmt: skip
        assert refused.returncode == 1, password
        assert "at least 12 characters" in refused.stderr or "too common" in refused.stderr


def test_users_add_refuses_a_name_another_role_has(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "var")
    dualrec("kiosks", "enroll", "lin", "--branch", "BJ-001", "--data-dir", data_dir)
    clash = dualrec(
        "users", "add", "lin", "--role", "auditor", "--data-dir", data_dir,
        "--password-stdin", stdin="a long password 1\n", check=False,
    )  # fmt: skip
    assert clash.returncode == 1
    assert "'lin' is already used by a kiosk account" in clash.stderr


async def test_names_are_unique_across_roles_in_the_database(server: RunningServer) -> None:
    db: Database = server.db
    await db.add_credential("supervisor", "carol")
    for role in ("agent", "auditor", "admin", "kiosk"):
        with pytest.raises(Conflict, match="'carol' is already used by a supervisor account"):
            await db.add_credential(role, "carol")
    await db.revoke_credential("supervisor", "carol")
    with pytest.raises(Conflict):  # a revoked account keeps its name (the log names it)
        await db.add_credential("agent", "carol")
    with pytest.raises(StorageError, match="too common"):
        await db.set_password("supervisor", "carol", "Password1234")


async def test_the_admin_page_applies_the_policy(server: RunningServer) -> None:
    await server.db.add_credential("admin", "root")
    await server.db.set_password("admin", "root", ADMIN_PASSWORD)
    await server.db.add_credential("kiosk", "lin", "BJ-001")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        form = {"name": "root", "password": ADMIN_PASSWORD}
        async with http.post(f"{server.url}/console/login", data=form) as response:
            found = re.search(r'name="csrf" value="([^"]+)"', await response.text())
        assert found is not None
        add = {"action": "add_user", "role": "auditor", "csrf": found[1]}
        for name, password, said in (
            ("zhou", "aaaaaaaaaa", "at least 12 characters"),
            ("zhou", "qwerty123456", "too common"),
            ("lin", "a long password 1", "already used by a kiosk account"),
        ):
            data = {**add, "name": name, "password": password}
            async with http.post(f"{server.url}/admin", data=data) as response:
                assert response.status == 400, name
                assert said in await response.text()
        data = {**add, "name": "zhou", "password": "a long password 1"}
        async with http.post(f"{server.url}/admin", data=data) as response:
            assert response.status == 200
    assert await server.db.check_password("zhou", "a long password 1") is not None
    added = [e.target for e in await access_log.entries(server.db) if e.action == "admin"]
    assert added == ["zhou"]
