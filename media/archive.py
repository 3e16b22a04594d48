"""Closing a recording part's archive: the signed manifest, then the composite.

At hang-up the archive (every track's segments, hash-chained as they closed) is
signed at once: it is the evidentiary record and it is complete, verifiable and
replayable within a second. The composite (both parties side by side with the
overlay, H.264/AAC) is then made from the archive in a worker process, chained after
the segments, and the manifest is signed again with it.

The manifest's facts (who, when, which segments and evidence) and what the composite
shows come from the caller as plain data: this module knows files, not the database.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import dataclasses
import logging
import os
import signal
import sys
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import sha256_file

from .chain import ChainLog, HashChain
from .composite import CompositeInfo, CompositeResult, compose_session
from .manifest import sign_manifest, write_signed_manifest

logger = logging.getLogger(__name__)

COMPOSITE = "composite.mp4"
#: Niceness of the composite worker: live calls come first when the CPU is short.
WORKER_NICENESS = 10


async def sign_archive(
    directory: Path, manifest: dict[str, Any], chain: HashChain, key: Ed25519PrivateKey
) -> None:
    """Sign ``manifest`` over ``chain`` as it stands into ``directory`` (off the event loop)."""
    signed = sign_manifest(manifest, chain, key)
    await asyncio.to_thread(write_signed_manifest, directory, signed)


async def make_composite(
    directory: Path,
    manifest: dict[str, Any],
    info: CompositeInfo,
    chain: ChainLog,
    key: Ed25519PrivateKey,
    executor: Executor,
) -> CompositeResult | None:
    """Compose the part in ``executor``, chain the files and sign the manifest again."""
    loop = asyncio.get_running_loop()
    began = datetime.now(UTC)
    try:
        result = await loop.run_in_executor(
            executor, _compose, directory, directory / COMPOSITE, info
        )
    except Exception:
        logger.exception("session %s: the composite failed; the archive stands", info.session_id)
        await asyncio.to_thread(chain.close)
        return None
    for path in (result.path, result.vtt_path):
        digest = await asyncio.to_thread(sha256_file, path)
        await asyncio.to_thread(chain.add, path.name, digest, path.stat().st_size)
    await asyncio.to_thread(chain.close)
    composite = {
        "file": result.path.name,
        "captions": result.vtt_path.name,
        "duration_s": round(result.duration_s, 3),
        "frames": result.frames,
        "chapters": [{"start_s": round(t, 3), "title": title} for t, title in result.chapters],
        "made_at": datetime.now(UTC).isoformat(),
        "warnings": result.warnings,
    }
    await sign_archive(directory, manifest | {"composite": composite}, chain.chain, key)
    logger.info(
        "session %s: composite of %.1f s made in %.1f s",
        info.session_id,
        result.duration_s,
        (datetime.now(UTC) - began).total_seconds(),
    )
    return result


async def close_archive(
    directory: Path,
    manifest: dict[str, Any],
    info: CompositeInfo,
    chain: ChainLog,
    key: Ed25519PrivateKey,
    *,
    composites: Executor | None,
) -> asyncio.Task[CompositeResult | None] | None:
    """Sign the part's archive now; returns the composite's job (None without a pool)."""
    await sign_archive(directory, manifest, chain.chain, key)
    if composites is None:
        await asyncio.to_thread(chain.close)
        return None
    return asyncio.ensure_future(make_composite(directory, manifest, info, chain, key, composites))


def composite_worker_init() -> None:
    """Start a composite worker process: lower priority, and gone with the server."""
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
