"""Persistence for dualrec: the audit database (and, later, the recording stores)."""

from .database import Database, normalise_url
from .errors import NotFound, StorageError, StorageUnavailable
from .models import (
    Base,
    CredentialView,
    MediaKind,
    Party,
    RecordingFileView,
    Role,
    SessionDetail,
    SessionStatus,
    SessionView,
    WorkflowEventView,
)

__all__ = [
    "Base",
    "CredentialView",
    "Database",
    "MediaKind",
    "NotFound",
    "Party",
    "RecordingFileView",
    "Role",
    "SessionDetail",
    "SessionStatus",
    "SessionView",
    "StorageError",
    "StorageUnavailable",
    "WorkflowEventView",
    "normalise_url",
]
