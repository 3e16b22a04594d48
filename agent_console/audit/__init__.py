"""The compliance auditor's console: search, replay, actions (review, hold, export), and
the review queue of inspected parts with the decision on each of their flags.

Every search, replay, track played, review, flag decision, hold and export is written to
the access log (``storage.access_log``) with who and when. Each module holds a
``RouteTableDef`` of module-level handlers; their dependencies come from
``agent_console.keys``.
"""

from .actions import routes as action_routes
from .queue import routes as queue_routes
from .replay import routes as replay_routes
from .search import routes as search_routes

__all__ = ["action_routes", "queue_routes", "replay_routes", "search_routes"]
