"""Closing a recording part's archive: the signed manifest, then the composite.

At hang-up the archive (every track's segments, hash-chained as they closed) is
signed at once: it is the evidentiary record and it is complete, verifiable and
replayable within a second. The composite (both parties side by side with the
overlay, H.264/AAC) is made later from the archive in a worker process (a job of
``jobs/``, maybe on another machine), chained after the segments, and the manifest is
signed again with it.

Making the composite is idempotent: a part whose signed manifest holds a composite is
left as it is; a run waits for another one on the same part (a lock on its chain file,
which the system drops when the process holding it dies: ``part_lock``, taken by
whatever else chains a file after hang-up); and a run cut between chaining
the composite and signing again is finished from the composite's section kept beside it
(``.composite.json``), not composed again. A part done twice is composed, chained and
signed once.

The manifest's facts (who, when, which segments and evidence) and what the composite
shows come from the caller as plain data: this module knows files, not the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import dataclasses
import fcntl
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import CHAIN_FILE, MANIFEST_FILE, sha256_file

from .chain import ChainLog, HashChain
from .composite import CompositeInfo, CompositeResult, compose_session
from .durable import write_durably
from .errors import IntegrityError
from .manifest import sign_manifest, write_signed_manifest

logger = logging.getLogger(__name__)

COMPOSITE = "composite.mp4"
CAPTIONS = "composite.vtt"
#: The composite's manifest section between chaining and signing (never shipped).
PENDING = ".composite.json"
#: Niceness of the composite worker: live calls come first when the CPU is short.
WORKER_NICENESS = 10


async def sign_archive(
    directory: Path, manifest: dict[str, Any], chain: HashChain, key: Ed25519PrivateKey
) -> None:
    """Sign ``manifest`` over ``chain`` as it stands into ``directory`` (off the event loop)."""
    signed = sign_manifest(manifest, chain, key)
    await asyncio.to_thread(write_signed_manifest, directory, signed)


async def close_archive(
    directory: Path, manifest: dict[str, Any], chain: ChainLog, key: Ed25519PrivateKey
) -> None:
    """Sign the part's archive now and close its chain; the composite is a later job."""
    await sign_archive(directory, manifest, chain.chain, key)
    await asyncio.to_thread(chain.close)


def signed_manifest(directory: Path) -> dict[str, Any]:
    """The part's signed manifest as stored (blocking); IntegrityError if there is none."""
    try:
        data = json.loads((directory / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{directory}: no readable signed manifest: {exc}") from exc
    if not isinstance(data, dict):
        raise IntegrityError(f"{directory}: the manifest is not an object")
    return data


def has_composite(directory: Path) -> bool:
    """Whether the part's signed manifest holds its composite (blocking)."""
    return "composite" in signed_manifest(directory)


async def compose_part(
    directory: Path, info: CompositeInfo, key: Ed25519PrivateKey, executor: Executor
) -> dict[str, Any] | None:
    """Compose the signed part in ``executor``, chain the files, sign the manifest again.

    Returns the manifest's new ``composite`` section, or None when the signed manifest
    holds one already (the work was done). Raises MediaError (or OSError) when it fails:
    the archive stands as signed.
    """
    async with part_lock(directory):
        return await _compose_part(directory, info, key, executor)


@contextlib.asynccontextmanager
async def part_lock(directory: Path) -> AsyncIterator[None]:
    """Hold the part's lock while its chain and manifest are rewritten after hang-up.

    Waits for the lock on the part's chain file (the system drops it when its holder
    dies): whoever chains a file and signs the manifest again (the composite here, the
    inspection report in ``inspection.run``) takes it, in any process on the machine.
    """
    fd = os.open(directory / CHAIN_FILE, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.5)
        yield
    finally:
        os.close(fd)


async def _compose_part(
    directory: Path, info: CompositeInfo, key: Ed25519PrivateKey, executor: Executor
) -> dict[str, Any] | None:
    manifest = await asyncio.to_thread(signed_manifest, directory)
    if "composite" in manifest:
        return None
    chain = await asyncio.to_thread(ChainLog.resume, directory)
    try:
        chained = {entry.file: entry for entry in chain.chain.entries}
        pending = directory / PENDING
        if COMPOSITE in chained and pending.is_file():  # cut after chaining: sign it now
            section = json.loads(await asyncio.to_thread(pending.read_text, "utf-8"))
        else:
            section = await _compose_files(directory, info, executor)
            text = json.dumps(section, ensure_ascii=False).encode("utf-8")
            await asyncio.to_thread(write_durably, pending, text, 0o600, replace=True)
        for name in (COMPOSITE, CAPTIONS):
            path = directory / name
            digest = await asyncio.to_thread(sha256_file, path)
            if name not in chained:
                await asyncio.to_thread(chain.add, name, digest, path.stat().st_size)
            elif chained[name].sha256 != digest:
                raise IntegrityError(f"{path}: not the file chained before")
    finally:
        await asyncio.to_thread(chain.close)
    body = {k: v for k, v in manifest.items() if k not in ("signature", "chain")}
    await sign_archive(directory, body | {"composite": section}, chain.chain, key)
    await asyncio.to_thread(pending.unlink, missing_ok=True)
    return dict(section)


async def _compose_files(
    directory: Path, info: CompositeInfo, executor: Executor
) -> dict[str, Any]:
    """Make composite.mp4 and its captions in ``executor``; their manifest section."""
    loop = asyncio.get_running_loop()
    began = datetime.now(UTC)
    result = await loop.run_in_executor(executor, _compose, directory, directory / COMPOSITE, info)
    logger.info(
        "session %s: composite of %.1f s made in %.1f s",
        info.session_id,
        result.duration_s,
        (datetime.now(UTC) - began).total_seconds(),
    )
    return {
        "file": result.path.name,
        "captions": result.vtt_path.name,
        "duration_s": round(result.duration_s, 3),
        "frames": result.frames,
        "chapters": [{"start_s": round(t, 3), "title": title} for t, title in result.chapters],
        "made_at": datetime.now(UTC).isoformat(),
        "warnings": result.warnings,
    }


def composite_worker_init() -> None:
    """Start a composite worker process: lower priority, and gone with its parent."""
    os.nice(WORKER_NICENESS)
    if sys.platform == "linux":
        # PR_SET_PDEATHSIG: a server killed outright takes its worker with it.
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGTERM)
        if os.getppid() == 1:  # the server died before this line
            os._exit(0)


def _compose(directory: Path, out: Path, info: CompositeInfo) -> CompositeResult:
    """Compose into a temporary name, renamed when complete (runs in a worker process)."""
    partial = out.with_name(out.stem + ".partial" + out.suffix)
    result = compose_session(directory, partial, info)
    vtt = out.with_suffix(".vtt")
    result.vtt_path.replace(vtt)
    partial.replace(out)
    return dataclasses.replace(result, path=out, vtt_path=vtt)
