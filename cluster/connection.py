"""The Redis connection: retried with jittered back-off, checked while idle."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is and how patiently to talk to it."""

    url: str
    #: Each command's time-out: a node must not hang on a Redis that went away.
    timeout_s: float = 2.0
    retries: int = 3


def connect(settings: RedisSettings) -> Redis:
    """A client for ``settings.url`` (connections are made when first used)."""
    return Redis.from_url(
        settings.url,
        decode_responses=True,
        socket_timeout=settings.timeout_s,
        socket_connect_timeout=settings.timeout_s,
        health_check_interval=10,
        retry=Retry(EqualJitterBackoff(cap=1.0, base=0.05), settings.retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
