"""A part's composite made as a job is made, chained and signed once, however often the
job runs: again after it was done, or after a run cut between chaining and signing.

The part is real: WebM segments of four tracks (``tests.media.test_composite``), chained
and signed as at hang-up; the composite is made in a spawned process pool as on a worker.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import CHAIN_FILE, MANIFEST_FILE, sha256_file
from dualrec.jobs_setup import composite_pool
from media import ChainLog, load_or_create_signing_key, sign_manifest, write_signed_manifest
from media.archive import COMPOSITE, PENDING, compose_part
from media.integrity import check_integrity
from tests.media.test_composite import INFO, write_session


@dataclass(frozen=True)
class SignedPart:
    """A part folder as hang-up leaves it: segments, chain, signed manifest."""

    folder: Path
    key: Ed25519PrivateKey

    def manifest(self) -> dict[str, Any]:
        """The signed manifest as stored."""
        data: dict[str, Any] = json.loads((self.folder / MANIFEST_FILE).read_text("utf-8"))
        return data

    def chained(self) -> list[str]:
        """The chain's files, in order."""
        return [entry.file for entry in ChainLog.load(self.folder / CHAIN_FILE).entries]

    def intact(self) -> bool:
        """Signed by the key, chain and files whole."""
        return check_integrity(self.folder, trusted_public_key=self.key.public_key()).ok


@pytest.fixture
def part(tmp_path: Path) -> SignedPart:
    """A closed, signed part of four real tracks."""
    folder = tmp_path / INFO.session_id
    write_session(folder)
    (folder / "agent-audio-0001.webm").unlink()  # the fixture's damaged file: not here
    key = load_or_create_signing_key(tmp_path / "key.pem")
    chain = ChainLog(folder, INFO.session_id)
    for path in sorted(folder.glob("*.webm")):
        chain.add(path.name, sha256_file(path), path.stat().st_size)
    chain.close()
    write_signed_manifest(folder, sign_manifest({"session_id": INFO.session_id}, chain.chain, key))
    return SignedPart(folder, key)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """The composite process pool, as a worker has it."""
    with composite_pool() as executor:
        yield executor


async def test_a_composite_job_run_twice_composes_once(
    part: SignedPart, pool: ProcessPoolExecutor
) -> None:
    section = await compose_part(part.folder, INFO, part.key, pool)
    assert section is not None and section["file"] == COMPOSITE
    made = (part.folder / COMPOSITE).stat().st_mtime_ns
    manifest = part.manifest()
    assert manifest["composite"] == section and part.intact()

    assert await compose_part(part.folder, INFO, part.key, pool) is None  # done: nothing redone
    assert (part.folder / COMPOSITE).stat().st_mtime_ns == made
    assert part.manifest() == manifest
    assert part.chained().count(COMPOSITE) == 1 and part.intact()


async def test_a_run_cut_after_chaining_is_signed_by_the_next_without_composing_again(
    part: SignedPart, pool: ProcessPoolExecutor, tmp_path: Path
) -> None:
    signed_at_hang_up = tmp_path / "manifest-at-hang-up.json"
    shutil.copy(part.folder / MANIFEST_FILE, signed_at_hang_up)
    section = await compose_part(part.folder, INFO, part.key, pool)
    assert section is not None
    # The folder as a run leaves it when killed after chaining, before signing again.
    shutil.copy(signed_at_hang_up, part.folder / MANIFEST_FILE)
    (part.folder / PENDING).write_text(json.dumps(section), "utf-8")
    made = (part.folder / COMPOSITE).stat().st_mtime_ns
    assert not part.intact()  # chained files the signed manifest does not cover

    assert await compose_part(part.folder, INFO, part.key, pool) == section
    assert (part.folder / COMPOSITE).stat().st_mtime_ns == made  # not composed again
    assert part.manifest()["composite"] == section
    assert part.chained().count(COMPOSITE) == 1 and part.intact()
    assert not (part.folder / PENDING).exists()
