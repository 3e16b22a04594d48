"""Sign-in throttling: after too many failures, a name or an address is refused for a while.

Sign-in attempts are counted per key ("address:<ip>", "account:<name>"); once a key has
``limit`` failures within ``window_s`` it is refused until the oldest of them leaves the
window. A refused attempt is not checked at all: no password hash is verified (argon2
costs both cores), no database is read, nothing is logged. The state is behind
``SignInThrottle`` so that several nodes can share it in Redis; ``MemoryThrottle`` is the
one-process default.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from aiohttp import web

from .errors import SignalingError

#: Failures allowed within the window before a key is refused.
LIMIT = 5
WINDOW_S = 15 * 60.0
#: Keys kept before the expired ones are swept (a flood of made-up names stays bounded).
_SWEEP_ABOVE = 10_000


class TooManyAttempts(SignalingError):
    """Sign-in refused without checking: too many recent failures for this name or address."""

    code = "too_many_attempts"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s

    def page_text(self) -> str:
        """What the sign-in page says, in both languages."""
        minutes = max(1, math.ceil(self.retry_after_s / 60))
        return (
            f"失败次数过多，请 {minutes} 分钟后再试。"
            f"Too many failed attempts: try again in {minutes} minutes."
        )


class SignInThrottle(Protocol):
    """Counts sign-in attempts per key and refuses a key with too many recent failures."""

    async def begin(self, keys: Iterable[str]) -> bool:
        """Count an attempt against ``keys``, before it is checked.

        Raises ``TooManyAttempts`` if one of them is refused (the attempt is then not
        counted, and must not be checked). Returns True if this attempt used the last one
        allowed: should it fail, a burst starts (the access log records that once). It is
        counted as a failure until ``succeeded``, so that concurrent attempts cannot all
        slip in before the first of them fails.
        """
        ...

    async def succeeded(self, keys: Iterable[str]) -> None:
        """The attempt begun on ``keys`` was right: it no longer counts as a failure."""
        ...


class MemoryThrottle:
    """``SignInThrottle`` in this process's memory (one node)."""

    def __init__(
        self,
        *,
        limit: int = LIMIT,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit, self._window_s, self._clock = limit, window_s, clock
        # The times of each key's most recent attempts, at most ``limit`` of them.
        self._failures: dict[str, deque[float]] = {}

    def _wait(self, key: str, now: float) -> float:
        times = self._failures.get(key)
        if times is None or len(times) < self._limit:
            return 0.0
        return times[0] + self._window_s - now

    async def begin(self, keys: Iterable[str]) -> bool:
        """Count an attempt against ``keys`` (``TooManyAttempts`` if one is refused)."""
        now, keys = self._clock(), list(keys)
        wait = max((self._wait(key, now) for key in keys), default=0.0)
        if wait > 0:
            raise TooManyAttempts(math.ceil(wait))
        if len(self._failures) > _SWEEP_ABOVE:
            self._sweep(now)
        last = False
        for key in keys:
            times = self._failures.setdefault(key, deque(maxlen=self._limit))
            times.append(now)
            last |= self._wait(key, now) > 0
        return last

    async def succeeded(self, keys: Iterable[str]) -> None:
        """The attempt begun on ``keys`` was right: it no longer counts as a failure."""
        for key in keys:
            times = self._failures.get(key)
            if times:
                times.pop()
            if not times:
                self._failures.pop(key, None)

    def _sweep(self, now: float) -> None:
        expired = [k for k, t in self._failures.items() if t[-1] + self._window_s <= now]
        for key in expired:
            del self._failures[key]


SIGN_IN_THROTTLE: web.AppKey[SignInThrottle] = web.AppKey("sign_in_throttle")


def address_key(address: str | None) -> str:
    """The throttle key of the address a request came from (``request.remote``).

    Behind a reverse proxy this is the proxy's address unless aiohttp is told to trust
    its forwarding headers; the per-account key still holds then.
    """
    return f"address:{address or '?'}"


def account_key(name: str) -> str:
    """The throttle key of an account name."""
    return f"account:{name.casefold()[:100]}"
