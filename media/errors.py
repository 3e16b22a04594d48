"""Errors of the media layer."""

from __future__ import annotations


class MediaError(Exception):
    """Root of the media errors."""


class NegotiationError(MediaError, ValueError):
    """An SDP offer or ICE candidate could not be applied."""


class RecordingError(MediaError, OSError):
    """A recording could not be written or read."""


class IntegrityError(MediaError):
    """A chain, key or manifest could not be read or written, or was given bad data."""
