"""Persistence for dualrec: the audit database (and, later, the recording stores)."""

from common import MediaKind, Party, Role

from . import access_log, audit, review_queue
from .database import Database, normalise_url
from .errors import Conflict, NotFound, StorageError, StorageUnavailable
from .inspections import InspectionVerdict, InspectionView
from .models import Base
from .passwords import check_password_strength
from .personal import PersonalData
from .retry import HealthView, RetryPolicy
from .views import (
    CredentialView,
    EvidenceItemView,
    RecordingFileView,
    ReviewStatus,
    ReviewView,
    SessionDetail,
    SessionStatus,
    SessionView,
    WorkflowEventView,
)
from .web_sessions import WebSessionView, web_session_key

__all__ = [
    "Base",
    "Conflict",
    "CredentialView",
    "Database",
    "EvidenceItemView",
    "HealthView",
    "InspectionVerdict",
    "InspectionView",
    "MediaKind",
    "NotFound",
    "Party",
    "PersonalData",
    "RecordingFileView",
    "RetryPolicy",
    "ReviewStatus",
    "ReviewView",
    "Role",
    "SessionDetail",
    "SessionStatus",
    "SessionView",
    "StorageError",
    "StorageUnavailable",
    "WebSessionView",
    "WorkflowEventView",
    "access_log",
    "audit",
    "check_password_strength",
    "normalise_url",
    "review_queue",
    "web_session_key",
]
