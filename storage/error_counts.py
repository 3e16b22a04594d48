"""How many errors the database driver raised, by type, since the process started.

SQLAlchemy's ``handle_error`` event sees every driver error of an engine (a refused or
lost connection, a failed statement, a failed pool ping) before it is wrapped into a
``StorageError``, whichever storage module ran the statement. The counts are plain
integers read by the metrics endpoint; the messages are never kept (they may quote data).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext


class DatabaseErrors:
    """Counts the driver errors of one engine, by the driver's exception type."""

    def __init__(self, engine: Engine) -> None:
        self.counts: Counter[str] = Counter()
        event.listen(engine, "handle_error", self._on_error)

    def _on_error(self, context: ExceptionContext) -> None:
        self.counts[type(context.original_exception).__name__] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts as they are now."""
        return dict(self.counts)
