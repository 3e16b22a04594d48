"""Fixtures of the command tests: a Redis database of the test's own (demo --nodes 2)."""

from __future__ import annotations

from tests.cluster.conftest import redis_target  # noqa: F401  (the fixture)
