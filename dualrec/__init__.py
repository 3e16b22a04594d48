"""dualrec: remote video banking with regulatory double-recording (entry points, wiring)."""

from .settings import Settings

__all__ = ["Settings"]
