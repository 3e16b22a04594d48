"""``dualrec`` as its own process, as an operator starts it: any arguments, environment and
working directory; for the tests of the configuration and the data folder."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The environment of a process started here: no DUALREC_* of the test's own.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("DUALREC_")}


def dualrec(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """``python -m dualrec ARGS`` to its end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "dualrec", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**CLEAN_ENV, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def serving(
    port: int, *args: str, log: Path, env: Mapping[str, str] | None = None, timeout_s: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m dualrec serve ARGS`` once it answers /healthz on ``port``; SIGTERM after."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dualrec", "serve", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**CLEAN_ENV, **(env or {})},
            cwd=REPO,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while process.poll() is None and time.monotonic() < deadline:
            url = f"http://127.0.0.1:{port}/healthz"
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if response.status == 200:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"dualrec serve did not start:\n{log.read_text()}")
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
