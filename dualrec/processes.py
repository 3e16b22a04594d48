"""Child processes that each lead a process group: started, stopped with SIGTERM, none left.

``dualrec demo --nodes 2`` starts its nodes and its worker this way. A ``dualrec serve`` or
``dualrec worker`` starts processes of its own (the composite pool, multiprocessing's
resource tracker); they are members of its group, so whatever outlives the SIGTERM of
its leader is found by the group and killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

#: How much of a child's output a failure shows.
TAIL_LINES = 40


def group_members(pgid: int) -> list[int]:
    """The live processes of the process group ``pgid`` (zombies, already dead, left out)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")".
        state, _ppid, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


class Child:
    """One child process leading its own process group, its output in a file."""

    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name, self.argv, self.log = name, tuple(argv), log
        self.env = dict(os.environ) | dict(env or {})
        self.process: asyncio.subprocess.Process | None = None
        #: What was left of its group after it exited and had to be killed.
        self.left_behind: list[int] = []

    @property
    def pid(self) -> int | None:
        """Its process id, which is also its process group's id (None before it starts)."""
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        """Whether it was started and has not exited."""
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Start it, its stdout and stderr going to its log file."""
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )

    async def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, its exit status once it exits (SIGKILL after ``timeout_s``), no group left.

        Returns None when it had to be killed.
        """
        if self.process is None:
            return None
        status: int | None = self.process.returncode
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                status = await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                status = None
        self.left_behind = await end_group(self.process.pid)
        return status

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of its output."""
        if not self.log.exists():
            return "(no output)"
        text = self.log.read_text("utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


async def end_group(pgid: int, grace_s: float = 3.0, timeout_s: float = 10.0) -> list[int]:
    """SIGKILL what is left of the group ``pgid`` (ours: we started its leader); who was left.

    Its members get ``grace_s`` to exit by themselves first (multiprocessing's resource
    tracker exits a moment after its parent). Raises RuntimeError if a process outlives
    the SIGKILL for ``timeout_s``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while group_members(pgid) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    left = group_members(pgid)
    if not left:
        return []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = loop.time() + timeout_s
    while group_members(pgid):
        if loop.time() > deadline:
            raise RuntimeError(f"processes {group_members(pgid)} outlived a SIGKILL")
        await asyncio.sleep(0.05)
    return left
