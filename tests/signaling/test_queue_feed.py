"""The announcements' throttle: a burst of changes is announced at most twice, the last last."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from signaling.queue_feed import Throttle


async def test_a_burst_is_announced_once_at_first_and_once_more_with_the_latest() -> None:
    throttle = Throttle(interval_s=0.05)
    ran: list[int] = []
    done = asyncio.Event()

    def announcing(n: int) -> Callable[[], Awaitable[None]]:
        async def announce() -> None:
            ran.append(n)
            if n == 99:
                done.set()

        return announce

    throttle.request(announcing(0))
    await asyncio.sleep(0)  # the first change after a quiet spell goes at once
    assert ran == [0]
    for n in range(1, 100):  # a burst while the interval runs: only the latest is announced
        throttle.request(announcing(n))
        await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), 10)
    assert ran[0] == 0 and ran[-1] == 99 and len(ran) < 10, ran


async def test_a_failed_announcement_does_not_stop_the_next() -> None:
    throttle = Throttle(interval_s=0.01)
    ran: list[str] = []

    async def failing() -> None:
        ran.append("failed")
        raise OSError("socket gone")

    async def working() -> None:
        ran.append("ok")

    throttle.request(failing)
    await asyncio.sleep(0)
    throttle.request(working)
    while ran != ["failed", "ok"]:
        await asyncio.sleep(0.01)
