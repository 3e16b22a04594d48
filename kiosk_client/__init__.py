"""The branch kiosk client (aiortc): the customer's end of the call."""

from .kiosk import Kiosk, KioskResult
from .sources import SourceError, open_source

__all__ = ["Kiosk", "KioskResult", "SourceError", "open_source"]
