"""Errors raised by the storage package; the root is :class:`StorageError`."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error the storage package raises."""


class NotFound(StorageError, LookupError):
    """A record looked up by its key does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class Conflict(StorageError):
    """The record is not in a state that allows the change (e.g. already under legal hold)."""


class StorageUnavailable(StorageError, ConnectionError):
    """The database cannot be reached or refused the connection."""

    def __init__(self, message: str, *, transient: bool = False, in_doubt: bool = False) -> None:
        super().__init__(message)
        #: The connection was lost or refused: the same work may succeed if tried again.
        self.transient = transient
        #: The connection was lost while committing: the work may have been applied.
        self.in_doubt = in_doubt
