"""What the browser pages share: their common ES modules and what the server tells them.

``STATIC_DIR`` holds JavaScript modules used by both the kiosk page and the consoles
(signalling client, WebRTC helpers, i18n); the app serves it at ``/static/shared/``.
``page_vocabulary()`` is rendered into every page as JSON, so the scripts never keep
their own copies of the server's words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import browser_vocabulary

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static/shared"


def page_vocabulary() -> dict[str, Any]:
    """The vocabulary a page's scripts need, as JSON-ready data."""
    return browser_vocabulary()


__all__ = ["STATIC_DIR", "STATIC_URL", "page_vocabulary"]
