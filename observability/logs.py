"""Log lines as JSON (``--log-format json``): one object per event, for a log collector.

Each line carries the time, level, logger, this node's id, the session id when the
event concerns a session, and the message. The session id is taken, first found, from
the record (``extra={"session_id": ...}``), from ``SESSION_ID`` (set while a session's
message is handled, and inherited by the tasks started meanwhile), or from the message
itself, which names it as the house style asks ("session <id>: ..."). Nothing personal
is added: the message and any traceback go through ``common.redact``, so an ID number
that slipped into a message is masked here too. The standard library formats; no
logging library is needed for this.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from common.redact import redact

#: The session whose message is being handled (set by the signalling endpoint).
SESSION_ID: ContextVar[str | None] = ContextVar("dualrec_session_id", default=None)
#: The formats ``--log-format`` accepts.
LOG_FORMATS = ("text", "json")
#: The text format ``dualrec serve`` has always used.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A session id as messages name it: "session 3f2a...: ", "call 3f2a... (...)".
_NAMED = re.compile(r"\b(?:session|call) ([0-9a-f]{32})\b")


def session_of(record: logging.LogRecord, message: str) -> str | None:
    """The session ``record`` is about, if it names or runs in one."""
    given = getattr(record, "session_id", None)
    if isinstance(given, str) and given:
        return given
    current = SESSION_ID.get()
    if current:
        return current
    named = _NAMED.search(message)
    return None if named is None else named.group(1)


class JsonLines(logging.Formatter):
    """Formats each record as one line of JSON."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line (newlines inside are escaped)."""
        message = redact(record.getMessage())
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "node": self.node_id,
            "session_id": session_of(record, message),
            "message": message,
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def log_handler(log_format: str, node_id: str, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing to ``stream`` (stderr) in ``log_format``: ``text`` or ``json``."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    formatter = JsonLines(node_id) if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    return handler


def configure_logging(level: str, log_format: str, node_id: str) -> None:
    """Send every log record to stderr in ``log_format`` (for the entry points only)."""
    logging.basicConfig(level=level, handlers=[log_handler(log_format, node_id)], force=True)
