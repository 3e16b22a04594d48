"""The root of the jobs package's errors."""

from __future__ import annotations


class JobError(Exception):
    """A job that cannot be queued or run (an unknown kind, a queue that is closed)."""


class UnknownJobKind(JobError, LookupError):
    """A job of a kind no handler is registered for, here or in the worker."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"no handler for jobs of kind {kind!r}")
        self.kind = kind
