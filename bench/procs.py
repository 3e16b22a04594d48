"""Processes for the benchmark: start, watch (CPU and memory from /proc) and stop them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of the process group led by ``pid`` (members, and reaped children)."""
    total = 0.0
    for member in group_members(pid, zombies=True):
        with contextlib.suppress(OSError):
            fields = _stat(member)
            total += int(fields[11]) + int(fields[12])
            if member == pid:
                total += int(fields[13]) + int(fields[14])
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc/PID/statm."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_BYTES / 1e6


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds of some processes, and the machine's ticks, at one wall-clock instant."""

    at: float
    seconds: dict[int, float]
    machine: tuple[int, int]

    @classmethod
    def take(cls, *pids: int) -> CpuSample:
        """Sample the given processes now."""
        return cls(time.time(), {pid: cpu_seconds(pid) for pid in pids}, machine_ticks())

    def machine_busy_since(self, earlier: CpuSample) -> float:
        """% of all cores busy (any process) between ``earlier`` and this sample."""
        busy = self.machine[0] - earlier.machine[0]
        total = self.machine[1] - earlier.machine[1]
        return 100 * busy / total if total else 0.0

    def percent_since(self, earlier: CpuSample, pid: int) -> float:
        """% of one core that ``pid``'s group used between ``earlier`` and this sample."""
        return 100 * (self.seconds[pid] - earlier.seconds[pid]) / (self.at - earlier.at)


class Child:
    """A child process with its stderr in a log file, stopped politely then firmly."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: IO[Any]) -> None:
        self.name = name
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    @classmethod
    async def start(cls, name: str, args: list[str], log_path: Path, **kwargs: Any) -> Child:
        """Start ``python ARGS`` in a process group of its own, stderr to ``log_path``."""
        log = log_path.open("w")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stderr=log,
            cwd=str(Path(__file__).parent.parent),
            start_new_session=True,  # its workers share its group: stop() ends them all
            **kwargs,
        )
        return cls(name, process, log)

    async def stop(self, grace_s: float = 30.0) -> tuple[int | None, int]:
        """SIGINT, then SIGKILL its group after ``grace_s``; (exit code, workers killed)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                await self.process.wait()
        leftovers = group_members(self.pid)
        if leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.log.close()
        return self.process.returncode, len(leftovers)


def group_members(pgid: int, *, zombies: bool = False) -> list[int]:
    """Processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except (OSError, ValueError):
            continue
        if int(fields[2]) == pgid and (zombies or fields[0] != "Z"):
            members.append(int(entry.name))
    return members


async def wait_healthy(url: str, timeout: float = 30.0) -> None:
    """Wait until GET ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


async def loop_lag(base_url: str, since: float) -> dict[str, float]:
    """The server's event-loop lag since ``since`` (its /healthz)."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{base_url}/healthz", params={"since": str(since)}) as response,
    ):
        data = await response.json()
    lag: dict[str, float] = data["loop_lag"]
    return lag


def log_problems(path: Path, limit: int = 6) -> tuple[int, list[str]]:
    """ERROR lines and tracebacks in a log: how many, and the first few with their exception."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return 0, []
    found = []
    for i, line in enumerate(lines):
        if "Traceback" in line:
            # The exception is the first unindented line after the traceback.
            end = next((x for x in lines[i + 1 :] if x and not x[0].isspace()), "?")
            found.append(f"{line[:120]} ... {end[:160]}")
        elif " ERROR " in line:
            found.append(line[:240])
    return len(found), found[:limit]
