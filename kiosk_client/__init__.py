"""The branch kiosk client (aiortc): the customer's end of the call."""

from .kiosk import CAUTIOUS_ANSWERS, GROWTH_ANSWERS, Kiosk, KioskResult
from .signature import draw_signature, png_data_url
from .sources import SourceError, open_source
from .web import ENROLMENT, setup_kiosk_pages

__all__ = [
    "CAUTIOUS_ANSWERS",
    "ENROLMENT",
    "GROWTH_ANSWERS",
    "Kiosk",
    "KioskResult",
    "SourceError",
    "draw_signature",
    "open_source",
    "png_data_url",
    "setup_kiosk_pages",
]
