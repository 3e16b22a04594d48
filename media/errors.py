"""Errors of the media layer."""

from __future__ import annotations


class MediaError(Exception):
    """Root of the media errors."""


class NegotiationError(MediaError, ValueError):
    """An SDP offer or ICE candidate could not be applied."""


class RecordingError(MediaError, OSError):
    """A recording could not be written or read."""
