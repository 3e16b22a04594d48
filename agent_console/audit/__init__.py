"""The compliance auditor's console: search, replay, and actions (review, hold, export).

Every search, replay, track played, review, hold and export is written to the access log
(``storage.access_log``) with who and when. Each module holds a ``RouteTableDef`` of
module-level handlers; their dependencies come from ``agent_console.keys``.
"""

from .actions import routes as action_routes
from .replay import routes as replay_routes
from .search import routes as search_routes

__all__ = ["action_routes", "replay_routes", "search_routes"]
