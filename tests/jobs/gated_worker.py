"""A worker process whose only kind of job is a test's: ``gated``, which waits for a file.

``python -m tests.jobs.gated_worker REDIS_URL QUEUE MARKS`` runs ``jobs.worker.serve``
(SAQ, heartbeats, SIGTERM) as ``dualrec worker`` does, with this kind registered in
place of ours. A ``gated`` job writes ``start <pid>`` to ``MARKS/<name>.log``, waits
until ``MARKS/<name>.go`` exists, then writes ``finish <pid>``: a test catches it
mid-way by watching the log, and lets it end by making the file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from jobs.worker import serve

GATED = "gated"


def mark(path: Path, word: str) -> None:
    """Append ``word pid`` to ``path``, on disk before this returns."""
    with path.open("a", encoding="utf-8") as log:
        log.write(f"{word} {os.getpid()}\n")
        log.flush()
        os.fsync(log.fileno())


def marks(path: Path) -> list[tuple[str, int]]:
    """The (word, pid) lines written to ``path`` so far."""
    if not path.is_file():
        return []
    pairs = [line.split() for line in path.read_text("utf-8").splitlines()]
    return [(word, int(pid)) for word, pid in pairs]


def main(redis_url: str, queue: str, folder: Path) -> None:
    """Serve ``gated`` jobs until SIGTERM."""

    async def gated(kwargs: dict[str, Any]) -> str:
        name = str(kwargs["name"])
        await asyncio.to_thread(mark, folder / f"{name}.log", "start")
        while not (folder / f"{name}.go").exists():
            await asyncio.sleep(0.05)
        await asyncio.to_thread(mark, folder / f"{name}.log", "finish")
        return "done"

    asyncio.run(serve(redis_url, {GATED: gated}, name=queue))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
