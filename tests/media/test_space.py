"""The recordings disk's reserve: made, given back when the disk is full, made again."""

from __future__ import annotations

import errno
from pathlib import Path

from media.errors import IntegrityError
from media.space import RESERVE_FILE, SpaceReserve, is_disk_full


def test_the_reserve_is_given_back_once_and_made_again_when_there_is_room(
    tmp_path: Path,
) -> None:
    space = SpaceReserve(tmp_path / "recordings", size=64 * 1024)
    assert space.ensure() and not space.full
    reserve = tmp_path / "recordings" / RESERVE_FILE
    assert reserve.stat().st_size == 64 * 1024 and reserve.stat().st_blocks * 512 >= 64 * 1024
    assert space.problems() == []

    assert space.trip("agent video: no space") is True
    assert space.trip("kiosk audio: no space") is False  # the first one says when and why
    assert space.full and not reserve.exists()
    [problem] = space.problems()
    assert problem.startswith("recordings disk full since ") and "agent video" in problem

    # This disk has room for the reserve twice over: it is made again, the state cleared.
    assert space.check() == [] and not space.full and reserve.is_file()


def test_a_write_refused_for_want_of_space_is_known_through_its_wrappers() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError as exc:
            raise IntegrityError(f"cannot write chain.jsonl: {exc}") from exc
    except IntegrityError as wrapped:
        assert is_disk_full(wrapped)
    assert is_disk_full(OSError(errno.EDQUOT, "quota"))
    assert not is_disk_full(OSError(errno.EACCES, "denied"))
    assert not is_disk_full(IntegrityError("bad data"))
