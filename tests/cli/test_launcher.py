"""The ``dualrec`` command the demo prints works where it is pasted: after ``./dev demo``
dualrec is in the checkout's ``.venv``, which is not on the PATH until activated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dualrec.demo import format_summary
from dualrec.launcher import dualrec_command
from tests.cli.serving import CLEAN_ENV, REPO

#: A shell's PATH without any virtual environment.
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    not (VENV_BIN / "dualrec").is_file(), reason="dualrec is not installed beside this python"
)


def shell(command: str, path: str = BARE_PATH) -> subprocess.CompletedProcess[str]:
    """``command`` in a shell in the checkout, as an operator types it."""
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**CLEAN_ENV, "PATH": path},
        stdin=subprocess.DEVNULL,
    )


def test_the_printed_command_works_without_activating_the_venv(tmp_path: Path) -> None:
    assert shell("dualrec --help").returncode == 127  # not found: what the issue saw
    printed = dualrec_command(cwd=REPO, path=BARE_PATH)
    assert printed != "dualrec" and printed.endswith("/dualrec")
    result = shell(f"{printed} serve --help")
    assert result.returncode == 0, result.stderr
    assert "--data-dir" in result.stdout and "--init" in result.stdout
    # Elsewhere than the checkout it is the absolute path.
    assert dualrec_command(cwd=tmp_path, path=BARE_PATH) == str(VENV_BIN / "dualrec")


def test_with_the_venv_on_the_path_it_is_plain_dualrec() -> None:
    on_path = f"{VENV_BIN}:{BARE_PATH}"
    assert dualrec_command(cwd=REPO, path=on_path) == "dualrec"
    assert shell("dualrec serve --help", path=on_path).returncode == 0


def test_the_demo_summary_prints_a_command_that_works(tmp_path: Path) -> None:
    printed = dualrec_command(cwd=REPO, path=BARE_PATH)
    data = {
        "session_id": "s1",
        "service": "card_opening",
        "status": "ended",
        "recording_dir": str(tmp_path),
        "files": [],
        "duration_s": 1.0,
        "frames": {},
        "workflow": [],
        "verified": True,
        "ready_after_hangup_s": 0.1,
        "elapsed_s": 2.0,
        "accounts": [{"role": "agent", "name": "demo-agent", "password": "pw"}],
        "data_dir": str(tmp_path / "var"),
        "command": printed,
    }
    lines = format_summary(data).splitlines()
    serve = next(line.strip() for line in lines if " serve --data-dir " in line)
    assert serve == f"{printed} serve --data-dir {tmp_path / 'var'}"
    result = shell(f"{serve} --help")
    assert result.returncode == 0 and "usage: dualrec serve" in result.stdout, result.stderr
    # The hint to activate names a file that does put dualrec on the PATH.
    hint = next(line for line in lines if "activate" in line)
    activate = hint.split("`")[1]
    assert shell(f"{activate} && command -v dualrec").stdout.strip() == str(VENV_BIN / "dualrec")
    # Once on the PATH (no "command" of its own), the summary says plain dualrec.
    data["command"] = "dualrec"
    assert "  dualrec serve --data-dir" in format_summary(data)
    assert "activate" not in format_summary(data)
